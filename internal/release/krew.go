package release

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"sigs.k8s.io/yaml"

	buildinfo "github.com/dynamo-infra/dynamo-infra/internal/version"
)

// The kubectl plugin: the dynamoctl binary under the name kubectl looks for.
const (
	PluginName    = "dynamo"
	CLIPackage    = "github.com/dynamo-infra/dynamo-infra/cmd/dynamoctl"
	KrewAPI       = "krew.googlecontainertools.github.com/v1alpha2"
	releaseAssets = Source + "/releases/download"
)

// DefaultPluginPlatforms are where platform engineers run kubectl.
var DefaultPluginPlatforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"},
	{OS: "darwin", Architecture: "amd64"}, {OS: "darwin", Architecture: "arm64"}}

// PluginArchive is one platform's kubectl-dynamo_<version>_<os>_<arch>.tar.gz.
type PluginArchive struct {
	Platform v1.Platform
	Name     string
	Data     []byte
}

// SHA256 is the archive's checksum as krew checks it.
func (a PluginArchive) SHA256() string {
	sum := sha256.Sum256(a.Data)
	return hex.EncodeToString(sum[:])
}

// BuildPluginArchives compiles kubectl-dynamo for every platform (dir: the module) and packs
// each into a reproducible .tar.gz.
func BuildPluginArchives(ctx context.Context, dir, version, commit string, created time.Time, platforms []v1.Platform) ([]PluginArchive, error) {
	if len(platforms) == 0 {
		platforms = DefaultPluginPlatforms
	}
	tmp, err := os.MkdirTemp("", "kubectl-dynamo-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	var out []PluginArchive
	for _, p := range platforms {
		bin := filepath.Join(tmp, p.OS+"-"+p.Architecture, buildinfo.PluginBinary)
		if err := Compile(ctx, dir, CLIPackage, p, version, commit, bin); err != nil {
			return nil, err
		}
		exe, err := os.ReadFile(bin)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf) // no name, no time in the header
		if err := Tar(gz, []File{{Name: buildinfo.PluginBinary, Mode: 0o755, Data: exe}}, created); err != nil {
			return nil, err
		}
		if err := gz.Close(); err != nil {
			return nil, err
		}
		out = append(out, PluginArchive{Platform: p, Name: fmt.Sprintf("%s_%s_%s_%s.tar.gz", buildinfo.PluginBinary, version, p.OS, p.Architecture), Data: buf.Bytes()})
	}
	return out, nil
}

// KrewPlugin is krew's plugin manifest (the fields krew's index reads).
type KrewPlugin struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       KrewSpec       `json:"spec"`
}

// KrewSpec is the manifest's spec.
type KrewSpec struct {
	Version          string         `json:"version"`
	Homepage         string         `json:"homepage"`
	ShortDescription string         `json:"shortDescription"`
	Description      string         `json:"description"`
	Platforms        []KrewPlatform `json:"platforms"`
}

// KrewPlatform is one archive of the manifest.
type KrewPlatform struct {
	Selector map[string]map[string]string `json:"selector"`
	URI      string                       `json:"uri"`
	SHA256   string                       `json:"sha256"`
	Files    []map[string]string          `json:"files"`
	Bin      string                       `json:"bin"`
}

// KrewManifest is the plugin manifest for version (v-prefixed semver, as krew requires) whose
// archives are published as release assets of that version.
func KrewManifest(version string, archives []PluginArchive) ([]byte, error) {
	if len(version) < 2 || version[0] != 'v' {
		return nil, fmt.Errorf("krew needs a v-prefixed semantic version, got %q", version)
	}
	m := KrewPlugin{APIVersion: KrewAPI, Kind: "Plugin", Metadata: map[string]any{"name": PluginName},
		Spec: KrewSpec{
			Version:          version,
			Homepage:         Source,
			ShortDescription: "Deploy NVIDIA Dynamo graphs on GPU clusters",
			Description: "dynamoctl as a kubectl plugin: GPU inventory of the cluster's nodes, pre-deployment checks of a\n" +
				"DynamoGraphDeployment's fit, rendering of the objects the operator applies, model-cache PVC\n" +
				"tooling and Prometheus scrape configuration for NVIDIA Dynamo inference graphs.\n",
		}}
	for _, a := range archives {
		m.Spec.Platforms = append(m.Spec.Platforms, KrewPlatform{
			Selector: map[string]map[string]string{"matchLabels": {"os": a.Platform.OS, "arch": a.Platform.Architecture}},
			URI:      fmt.Sprintf("%s/%s/%s", releaseAssets, version, a.Name),
			SHA256:   a.SHA256(),
			Files:    []map[string]string{{"from": buildinfo.PluginBinary, "to": "."}},
			Bin:      buildinfo.PluginBinary,
		})
	}
	return yaml.Marshal(m)
}
