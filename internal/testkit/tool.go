package testkit

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"time"
)

// RunTool runs a tool pinned in tools/ (helm, promtool, …: hack/tool.sh builds it once into the
// cache, which may take minutes the first time) in the repository root — relative paths in args
// are the root's — and returns what it wrote to standard output and standard error.
func RunTool(name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root := RepoRoot()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "tool.sh"), append([]string{name}, args...)...)
	cmd.Dir = root
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}
