// Package version reports the build's version, stamped by the Makefile through -ldflags.
package version

import (
	"runtime"
	"runtime/debug"
)

// PluginBinary is the name under which dynamoctl is kubectl's plugin "dynamo" (kubectl runs
// kubectl-dynamo from PATH for `kubectl dynamo`): what make build writes, what the krew
// archives hold, what the command line recognises in argv[0].
const PluginBinary = "kubectl-dynamo"

// DevBinary is the developer tooling's binary (the simulated cluster, NATS and etcd): `dynamoctl
// dev ...` runs it, found beside dynamoctl or on PATH. It is apart so that the plugin users
// download stays small (docs/benchmarks.md).
const DevBinary = "dynamoctl-dev"

// EnvDevDisplayName is how dynamoctl tells dynamoctl-dev the user's spelling of its commands
// ("dynamoctl dev", "kubectl dynamo dev"), for its usage lines and help.
const EnvDevDisplayName = "DYNAMOCTL_DEV_DISPLAY_NAME"

// Set at link time: -X github.com/dynamo-infra/dynamo-infra/internal/version.version=v0.1.0 (and commit).
var (
	version = "dev"
	commit  = ""
)

// Info describes the running binary.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the binary's version info. Without a stamped commit it falls back to the VCS
// revision Go records in the build info, when there is one.
func Get() Info {
	c := commit
	if c == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	return Info{
		Version:   version,
		Commit:    c,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
}
