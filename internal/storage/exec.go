package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

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

// ErrIdle means an exec session moved no data for longer than its idle timeout.
var ErrIdle = errors.New("no data moved")

// IdleTimeout wraps ex so that a session in which no byte moves in either direction for d is
// ended with ErrIdle: a remote tar that never ends (a full disk behind a hung mount, a stopped
// container) must not hold `pvc cp` forever. d <= 0 returns ex.
func IdleTimeout(ex Execer, d time.Duration) Execer {
	if d <= 0 {
		return ex
	}
	return idleExecer{ex: ex, d: d}
}

type idleExecer struct {
	ex Execer
	d  time.Duration
}

// Exec implements Execer.
func (e idleExecer) Exec(ctx context.Context, pod *corev1.Pod, cmd []string, s remotecommand.StreamOptions) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var last atomic.Int64
	touch := func() { last.Store(time.Now().UnixNano()) }
	touch()
	if s.Stdin != nil {
		s.Stdin = touchReader{r: s.Stdin, touch: touch}
	}
	if s.Stdout != nil {
		s.Stdout = touchWriter{w: s.Stdout, touch: touch}
	}
	if s.Stderr != nil {
		s.Stderr = touchWriter{w: s.Stderr, touch: touch}
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(min(e.d/4, time.Second))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if idle := time.Since(time.Unix(0, last.Load())); idle > e.d {
					cancel(fmt.Errorf("%w for %s: the access pod stopped answering (raise --idle-timeout if it is only slow)", ErrIdle, e.d))
					return
				}
			}
		}
	}()
	err := e.ex.Exec(ctx, pod, cmd, s)
	if cause := context.Cause(ctx); errors.Is(cause, ErrIdle) {
		return cause
	}
	return err
}

type touchReader struct {
	r     io.Reader
	touch func()
}

func (t touchReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.touch()
	}
	return n, err
}

type touchWriter struct {
	w     io.Writer
	touch func()
}

func (t touchWriter) Write(p []byte) (int, error) {
	t.touch()
	return t.w.Write(p)
}
