package gomem

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCgroup(t *testing.T) {
	for _, c := range []struct {
		name, file, content string
		want                int64
		ok                  bool
	}{
		{"v2 limit", "memory.max", "268435456\n", 268435456, true},
		{"v2 none", "memory.max", "max\n", 0, false},
		{"v1 limit", "memory/memory.limit_in_bytes", "536870912\n", 536870912, true},
		{"v1 unlimited", "memory/memory.limit_in_bytes", "9223372036854771712\n", 0, false},
		{"garbage", "memory.max", "lots\n", 0, false},
		{"no cgroup", "", "", 0, false},
	} {
		root := t.TempDir()
		if c.file != "" {
			p := filepath.Join(root, c.file)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if got, ok := Cgroup(root); got != c.want || ok != c.ok {
			t.Errorf("%s: %d, %v; want %d, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}
