// Package gomem sets the Go runtime's memory knobs for a long-running process whose heap is
// mostly caches (the operator): a collection when the heap has grown by half of what is live
// (GOGC=50, not the default 100: the heap is not let grow to twice its caches), and, in a
// container with a memory limit, a soft limit under it, so the collector works harder as the
// heap nears the limit instead of the kernel killing the process. GOGC and GOMEMLIMIT in the
// environment win.
package gomem

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// GCPercent is the collector's target when GOGC is not set.
const GCPercent = 50

// Share is the part of the container's memory limit the Go runtime may use: the rest is the
// binary's pages and what the runtime does not count.
const Share = 0.9

// Settings are what Configure set (zero: left to the runtime).
type Settings struct {
	GCPercent int
	// SoftLimit is the soft memory limit in bytes.
	SoftLimit int64
}

// Configure sets the collector's target to GCPercent unless GOGC is set, and the soft memory
// limit to Share of the cgroup's memory limit unless GOMEMLIMIT is set or no limit applies.
func Configure() Settings {
	var s Settings
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
		s.GCPercent = GCPercent
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		return s
	}
	if limit, ok := Cgroup("/sys/fs/cgroup"); ok {
		s.SoftLimit = int64(float64(limit) * Share)
		debug.SetMemoryLimit(s.SoftLimit)
	}
	return s
}

// Cgroup reads the memory limit of the cgroup mounted at root: cgroup v2's memory.max, or v1's
// memory/memory.limit_in_bytes. No file, "max", or v1's "unlimited" (a value near the int64
// maximum): none.
func Cgroup(root string) (int64, bool) {
	for _, f := range []string{"memory.max", filepath.Join("memory", "memory.limit_in_bytes")} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0, false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n >= 1<<62 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}
