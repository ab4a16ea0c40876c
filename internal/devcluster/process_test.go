package devcluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The LeaderWorkerSet controller passes its health check, then loses its webhook port and exits,
// logging the bind error followed by a stack trace (its real output, trimmed). Waiting for the
// webhook returns that death as a port race — Start retries it with new ports — instead of
// waiting out the start timeout on "connection refused" (what a CI run did for 3 minutes).
func TestWaitTLSReturnsWhenTheServerDies(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "lws")
	lws := `#!/bin/sh
echo 'INFO	controller-runtime.webhook	Starting webhook server'
echo 'INFO	Wait completed, proceeding to shutdown the manager'
echo 'ERROR	setup	problem running manager	{"error": "listen tcp 127.0.0.1:34111: bind: address already in use"}'
echo 'main.main'
echo '	/root/go/pkg/mod/sigs.k8s.io/lws@v0.8.0/cmd/main.go:183'
echo 'runtime.main'
echo '	/usr/local/go/src/runtime/proc.go:290'
exit 1
`
	if err := os.WriteFile(script, []byte(lws), 0o755); err != nil {
		t.Fatal(err)
	}
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "lws.log")
	p, err := startProcess(BinLWS, script, nil, logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.stop(time.Second) }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = waitTLS(ctx, "127.0.0.1:"+strconv.Itoa(ports[0]), p, logPath)
	if err == nil || ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waitTLS = %v (context: %v); want the process's death before the deadline", err, ctx.Err())
	}
	if !errors.Is(err, errPortTaken) || !strings.Contains(err.Error(), "lws exited") || !strings.Contains(err.Error(), logPath) {
		t.Errorf("error %q is not a port race naming the process and its log", err)
	}
}
