package command

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/klog/v2"
)

// stderrOf returns what f writes to the process's stderr.
func stderrOf(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	f()
	klog.Flush()
	os.Stderr = saved
	_ = w.Close()
	b, _ := io.ReadAll(r)
	return string(b)
}

// client-go's "Unhandled Error" lines (an exec stream torn down by Ctrl-C) do not reach the
// terminal once dynamoctl silenced klog; before, they printed over the command's output.
func TestSilenceKlog(t *testing.T) {
	// klog caches os.Stderr at init: point it at the current one, as a fresh process has.
	klog.SetOutput(os.Stderr)
	loud := stderrOf(t, func() {
		klog.SetOutput(os.Stderr)
		utilruntime.HandleError(errors.New("stream torn down"))
	})
	if !strings.Contains(loud, "stream torn down") {
		t.Fatalf("without SilenceKlog nothing was printed (%q): the test cannot see the leak", loud)
	}
	quiet := stderrOf(t, func() {
		SilenceKlog()
		utilruntime.HandleError(errors.New("stream torn down again"))
	})
	if quiet != "" {
		t.Errorf("printed after SilenceKlog: %q", quiet)
	}
}
