package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Kubectl runs the kubectl binary with the same connection flags a command was given.
type Kubectl struct {
	// Path is the kubectl binary ("kubectl" looks it up on PATH).
	Path string
	// Args are the connection flags passed to every call (--kubeconfig, --context, ...).
	Args []string
	// Timeout bounds each call.
	Timeout time.Duration
}

// NewKubectl builds a runner that passes the flags' kubeconfig, context, cluster, user, server,
// namespace-independent settings and request timeout on to kubectl.
func NewKubectl(path string, f *ConfigFlags) Kubectl {
	k := Kubectl{Path: path, Timeout: DefaultRequestTimeout * 2}
	add := func(flag, v string) {
		if v != "" {
			k.Args = append(k.Args, "--"+flag+"="+v)
		}
	}
	o := f.Overrides
	add("kubeconfig", f.KubeConfig)
	add("context", o.CurrentContext)
	add("cluster", o.Context.Cluster)
	add("user", o.Context.AuthInfo)
	add("server", o.ClusterInfo.Server)
	add("token", o.AuthInfo.Token)
	add("as", o.AuthInfo.Impersonate)
	add("request-timeout", o.Timeout)
	if o.ClusterInfo.InsecureSkipTLSVerify {
		k.Args = append(k.Args, "--insecure-skip-tls-verify=true")
	}
	if k.Path == "" {
		k.Path = "kubectl"
	}
	if d, err := time.ParseDuration(o.Timeout); err == nil && d > 0 {
		k.Timeout = 2 * d
	}
	return k
}

// Output runs kubectl with the connection flags and args and returns its stdout. A failure
// carries kubectl's own last stderr line.
func (k Kubectl) Output(ctx context.Context, args ...string) ([]byte, error) {
	path, err := exec.LookPath(k.Path)
	if err != nil {
		return nil, fmt.Errorf("kubectl not found (%s): install it or pass --kubectl", k.Path)
	}
	ctx, cancel := context.WithTimeout(ctx, k.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append(append([]string{}, k.Args...), args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("kubectl %s: timed out after %s", strings.Join(args, " "), k.Timeout)
		}
		return nil, fmt.Errorf("kubectl %s: %s", strings.Join(args, " "), lastLine(stderr.String(), err))
	}
	return stdout.Bytes(), nil
}

func lastLine(s string, err error) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return l
	}
	return err.Error()
}
