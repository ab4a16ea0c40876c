// Package kube builds Kubernetes clients from kubectl-style flags and runs kubectl as a fallback
// source. It is the only place that knows how a command reaches a cluster.
package kube

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultRequestTimeout bounds every API request unless --request-timeout says otherwise.
const DefaultRequestTimeout = 30 * time.Second

// ErrNoKubeconfig means no cluster is configured: no --kubeconfig or --server, no $KUBECONFIG,
// no ~/.kube/config, and not running in a pod. client-go would otherwise try
// http://localhost:8080 and report a refused connection there.
var ErrNoKubeconfig = errors.New("no kubeconfig found (set KUBECONFIG or --kubeconfig, or --server)")

// ConfigError is a kubeconfig that cannot be used: unreadable, not YAML, a --context or
// --cluster it does not have. Commands report it like an unreachable cluster (exit 3).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return "kubeconfig: " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// RESTConfig resolves the flags to a client configuration the way kubectl does: --kubeconfig,
// $KUBECONFIG, ~/.kube/config, and in-cluster config when running in a pod with none of those.
// Lists are requested as protobuf, every request has a timeout, and once a request to a
// server that never answered times out, the next ones fail at once (see failFast).
func RESTConfig(f *ConfigFlags) (*rest.Config, error) {
	if err := configured(f); err != nil {
		return nil, &ConfigError{Err: err}
	}
	cfg, err := f.ToRawKubeConfigLoader().ClientConfig()
	if err != nil {
		return nil, &ConfigError{Err: err}
	}
	cfg = rest.CopyConfig(cfg)
	// --request-timeout 0 means no timeout, as in kubectl; flags built elsewhere get the default.
	if cfg.Timeout == 0 && f.Overrides.Timeout == "" {
		cfg.Timeout = DefaultRequestTimeout
	}
	cfg.QPS, cfg.Burst = 50, 100
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	state := &reachState{host: cfg.Host}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &failFast{rt: rt, state: state} })
	return cfg, nil
}

// configured returns ErrNoKubeconfig when nothing names a cluster, or the error of loading the
// kubeconfig files.
func configured(f *ConfigFlags) error {
	if f.Overrides.ClusterInfo.Server != "" {
		return nil
	}
	raw, err := f.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return err
	}
	if len(raw.Clusters) > 0 || len(raw.Contexts) > 0 {
		return nil
	}
	if _, err := rest.InClusterConfig(); err == nil {
		return nil
	}
	// $KUBECONFIG names files and none exists: say which (client-go skips missing ones).
	if env := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" && f.KubeConfig == "" {
		for _, p := range filepath.SplitList(env) {
			if _, err := os.Stat(p); err == nil {
				return fmt.Errorf("KUBECONFIG=%s: no cluster or context in it (set KUBECONFIG or --kubeconfig to a kubeconfig file, or --server)", env)
			}
		}
		return fmt.Errorf("KUBECONFIG=%s: no such file (set KUBECONFIG or --kubeconfig to a kubeconfig file, or --server)", env)
	}
	return ErrNoKubeconfig
}

// failFast ends requests at once after one timed out before the server ever answered: a
// command that makes several calls to a server that accepts connections and never replies
// waits one timeout, not one per call (a gpus run took 66–90 s that way). Once any request got
// an answer, nothing is short-circuited.
type failFast struct {
	rt    http.RoundTripper
	state *reachState
}

type reachState struct {
	host     string
	mu       sync.Mutex
	answered bool
	err      error
}

func (f *failFast) RoundTrip(req *http.Request) (*http.Response, error) {
	s := f.state
	s.mu.Lock()
	dead := !s.answered && s.err != nil
	err := s.err
	s.mu.Unlock()
	if dead {
		return nil, err
	}
	start := time.Now()
	resp, err := f.rt.RoundTrip(req)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		s.answered = true
	// --request-timeout ends a request through its context's deadline or by cancelling it
	// ("request canceled while waiting for connection"): any failure after a second of silence
	// counts, a refused connection or a TLS error (both at once) does not.
	case !s.answered && (IsTimeout(err) || errors.Is(req.Context().Err(), context.DeadlineExceeded) || time.Since(start) >= time.Second):
		s.err = fmt.Errorf("the API server at %s did not answer: %w", s.host, err)
	}
	return resp, err
}

func (f *failFast) WrappedRoundTripper() http.RoundTripper { return f.rt }

// IsTimeout reports whether err is a request that got no answer in time.
func IsTimeout(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout())
}

// Clientset builds a clientset from the flags.
func Clientset(f *ConfigFlags) (kubernetes.Interface, *rest.Config, error) {
	cfg, err := RESTConfig(f)
	if err != nil {
		return nil, nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	return cs, cfg, err
}

// IsUnreachable reports whether err means the cluster could not be reached or is not configured:
// no kubeconfig, DNS failure, connection refused or reset, timeouts, TLS trust failures. An
// answer from the API server (403, 404, ...) is not unreachable.
func IsUnreachable(err error) bool {
	if err == nil {
		return false
	}
	var cfgErr *ConfigError
	if clientcmd.IsEmptyConfig(err) || clientcmd.IsConfigurationInvalid(err) || errors.As(err, &cfgErr) {
		return true
	}
	// A local file error (a path that is a file, a dangling link, a name too long) carries a
	// syscall.Errno, which satisfies net.Error below: it is the user's disk, not the cluster.
	var pathErr *fs.PathError
	var linkErr *os.LinkError
	if errors.As(err, &pathErr) || errors.As(err, &linkErr) {
		return false
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) && !apierrors.IsTimeout(err) && !apierrors.IsServerTimeout(err) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var dnsErr *net.DNSError
	var urlErr *url.Error
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	if errors.As(err, &dnsErr) || errors.As(err, &unknownAuthority) || errors.As(err, &hostname) {
		return true
	}
	if errors.As(err, &urlErr) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host") || strings.Contains(msg, "i/o timeout")
}

// Serves reports whether the API server serves a resource (a CRD's kind installed or not): false
// when its group version is not served at all.
func Serves(d discovery.DiscoveryInterface, gvr schema.GroupVersionResource) (bool, error) {
	l, err := d.ServerResourcesForGroupVersion(gvr.GroupVersion().String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, r := range l.APIResources {
		if r.Name == gvr.Resource {
			return true, nil
		}
	}
	return false, nil
}

// Namespace is the namespace the flags select: -n, else the kubeconfig context's, else default.
func Namespace(f *ConfigFlags) string {
	ns, _, err := f.ToRawKubeConfigLoader().Namespace()
	if err != nil || ns == "" {
		return metav1.NamespaceDefault
	}
	return ns
}

// OneLine is an error's message on one line (an API server's answer may span several), for
// notes and table cells; "" for nil.
func OneLine(err error) string {
	if err == nil {
		return ""
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
