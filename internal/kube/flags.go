package kube

import (
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"
)

// ConfigFlags are kubectl's connection flags (--kubeconfig, --context, -n, --server,
// --request-timeout, --as, ...), bound to client-go's own kubeconfig overrides. kubectl builds
// them with k8s.io/cli-runtime, whose package also brings kustomize and kubectl's printers (a
// fifth of the plugin's size); these are the same flags without them.
type ConfigFlags struct {
	// KubeConfig is --kubeconfig: a file read instead of $KUBECONFIG and ~/.kube/config.
	KubeConfig string
	// Overrides holds every other flag, as clientcmd applies them over the kubeconfig.
	Overrides clientcmd.ConfigOverrides
	// userExtra is --as-user-extra, key=value, folded into Overrides when the config is read.
	userExtra []string
}

// NewConfigFlags returns the connection flags with a 30 s request timeout by default.
func NewConfigFlags() *ConfigFlags {
	return &ConfigFlags{Overrides: clientcmd.ConfigOverrides{Timeout: DefaultRequestTimeout.String()}}
}

// AddFlags binds the flags to fs (a root command's persistent flags), with kubectl's names,
// shorthands (-n, -s) and help.
func (f *ConfigFlags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.KubeConfig, clientcmd.RecommendedConfigPathFlag, f.KubeConfig, "Path to the kubeconfig file to use for CLI requests.")
	names := clientcmd.RecommendedConfigOverrideFlags("")
	names.ClusterOverrideFlags.APIServer.ShortName = "s"
	names.Timeout.Default = f.Overrides.Timeout
	// Basic authentication is gone from Kubernetes (1.19); kubectl no longer offers it either.
	names.AuthOverrideFlags.Username.LongName, names.AuthOverrideFlags.Password.LongName = "", ""
	clientcmd.BindOverrideFlags(&f.Overrides, fs, names)
	fs.StringArrayVar(&f.userExtra, "as-user-extra", nil, "User extras to impersonate for the operation, this flag can be repeated to specify multiple values for the same key.")
}

// ToRawKubeConfigLoader is the kubeconfig the flags select (--kubeconfig, else $KUBECONFIG, else
// ~/.kube/config; in a pod with none of those, the pod's service account), with the flags over
// it. Nothing is read until it is asked for.
func (f *ConfigFlags) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.KubeConfig
	overrides := f.Overrides
	if len(f.userExtra) > 0 {
		overrides.AuthInfo.ImpersonateUserExtra = map[string][]string{}
		for _, kv := range f.userExtra {
			if k, v, ok := strings.Cut(kv, "="); ok {
				overrides.AuthInfo.ImpersonateUserExtra[k] = append(overrides.AuthInfo.ImpersonateUserExtra[k], v)
			}
		}
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &overrides)
}
