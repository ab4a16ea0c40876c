// Package kube builds Kubernetes clients from kubectl-style flags and runs kubectl as a fallback
// source. It is the only place that knows how a command reaches a cluster.
package kube

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultRequestTimeout bounds every API request unless --request-timeout says otherwise.
const DefaultRequestTimeout = 30 * time.Second

// NewConfigFlags returns kubectl's connection flags (--kubeconfig, --context, -n, --server,
// --request-timeout, --as, ...) with a 30 s request timeout by default.
func NewConfigFlags() *genericclioptions.ConfigFlags {
	f := genericclioptions.NewConfigFlags(true)
	timeout := DefaultRequestTimeout.String()
	f.Timeout = &timeout
	return f
}

// RESTConfig resolves the flags to a client configuration the way kubectl does: --kubeconfig,
// $KUBECONFIG, ~/.kube/config, and in-cluster config when running in a pod with none of those.
// Lists are requested as protobuf, every request has a timeout.
func RESTConfig(f *genericclioptions.ConfigFlags) (*rest.Config, error) {
	cfg, err := f.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultRequestTimeout
	}
	cfg.QPS, cfg.Burst = 50, 100
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	return cfg, nil
}

// Clientset builds a clientset from the flags.
func Clientset(f *genericclioptions.ConfigFlags) (kubernetes.Interface, *rest.Config, error) {
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
	if clientcmd.IsEmptyConfig(err) || clientcmd.IsConfigurationInvalid(err) {
		return true
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

// Namespace is the namespace the flags select: -n, else the kubeconfig context's, else default.
func Namespace(f *genericclioptions.ConfigFlags) string {
	ns, _, err := f.ToRawKubeConfigLoader().Namespace()
	if err != nil || ns == "" {
		return metav1.NamespaceDefault
	}
	return ns
}
