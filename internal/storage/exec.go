package storage

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
)

// Execer runs a command in a pod's container, streaming stdin/stdout/stderr.
type Execer interface {
	Exec(ctx context.Context, pod *corev1.Pod, cmd []string, streams remotecommand.StreamOptions) error
}

// RemoteExecer execs through the API server (WebSocket, falling back to SPDY), as kubectl
// exec does; no kubectl binary is needed.
type RemoteExecer struct {
	Config *rest.Config
	Client kubernetes.Interface
}

// Exec implements Execer.
func (r RemoteExecer) Exec(ctx context.Context, pod *corev1.Pod, cmd []string, s remotecommand.StreamOptions) error {
	container := pod.Spec.Containers[0].Name
	req := r.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: cmd, Stdin: s.Stdin != nil, Stdout: s.Stdout != nil,
			Stderr: s.Stderr != nil && !s.Tty, TTY: s.Tty}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(r.Config, "POST", req.URL())
	if err != nil {
		return err
	}
	ws, err := remotecommand.NewWebSocketExecutor(r.Config, "GET", req.URL().String())
	if err != nil {
		return err
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return err
	}
	if err := ex.StreamWithContext(ctx, s); err != nil {
		return fmt.Errorf("exec in %s: %w", pod.Name, err)
	}
	return nil
}
