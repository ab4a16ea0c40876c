// Package hostile holds the attempts a careless or hostile user makes against dynamo-infra, one
// test each, so the suite grows with every command: tar slips in both directions, option-like
// paths, planted access pods, RBAC escalation, adoption of other people's objects, hostile
// manifests, servers that never answer. Each test failed on the code before its fix.
package hostile

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/dynamo-infra/dynamo-infra/internal/storage"
)

// entry is one archive member: typ d (dir), f (file), l (symlink), h (hard link), c (char
// device); link is the target of l and h.
type entry struct{ typ, name, link string }

func tarOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	b, err := encodeTar(entries)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func encodeTar(entries []entry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Linkname: e.link}
		body := ""
		switch e.typ {
		case "d":
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case "f":
			h.Typeflag, body = tar.TypeReg, "PWNED"
			h.Size = int64(len(body))
		case "l":
			h.Typeflag = tar.TypeSymlink
		case "h":
			h.Typeflag = tar.TypeLink
		case "c":
			h.Typeflag, h.Devmajor, h.Devminor = tar.TypeChar, 1, 3
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		_, _ = io.WriteString(tw, body)
	}
	_ = tw.Close()
	return buf.Bytes(), nil
}

// sandbox is base/dst (the destination) beside base/outside (a directory with a file that must
// never change); escaped lists whatever the extraction wrote outside dst.
type sandbox struct{ base, dst, outside string }

func newSandbox(t testing.TB) sandbox {
	base := t.TempDir()
	s := sandbox{base: base, dst: filepath.Join(base, "dst"), outside: filepath.Join(base, "outside")}
	if err := os.MkdirAll(s.outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.outside, "secret"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s sandbox) escaped(t testing.TB) []string {
	t.Helper()
	var bad []string
	_ = filepath.Walk(s.base, func(p string, info os.FileInfo, err error) error {
		if err != nil || p == s.base || p == s.outside || p == filepath.Join(s.outside, "secret") {
			return nil
		}
		if p != s.dst && !strings.HasPrefix(p, s.dst+string(filepath.Separator)) {
			bad = append(bad, p)
		}
		// A link inside dst must resolve inside dst (when it resolves at all).
		if info.Mode()&os.ModeSymlink != 0 {
			if target, err := filepath.EvalSymlinks(p); err == nil && target != s.dst && !strings.HasPrefix(target, s.dst+string(filepath.Separator)) {
				bad = append(bad, p+" -> "+target)
			}
		}
		return nil
	})
	if b, err := os.ReadFile(filepath.Join(s.outside, "secret")); err != nil || string(b) != "keep" {
		bad = append(bad, "outside/secret changed")
	}
	return bad
}

// Copy-out: archives from a hostile volume never write outside the destination.
func TestCopyOutTarSlipCorpus(t *testing.T) {
	cases := map[string][]entry{
		// The attempt of the report: each link's target, read as text from where the link
		// is named, stays inside; through the first link the second points out.
		"symlink chain":      {{"d", "d/", ""}, {"d", "d/s/", ""}, {"l", "d/s/up", ".."}, {"l", "d/s/up/esc", ".."}, {"f", "d/s/up/esc/PWNED", ""}},
		"chain into outside": {{"d", "d/", ""}, {"l", "d/a", "."}, {"l", "d/a/b", ".."}, {"f", "d/a/b/outside/secret", ""}},
		"absolute link":      {{"d", "d/", ""}, {"l", "d/etc", "/etc"}},
		"dot-dot link":       {{"d", "d/", ""}, {"l", "d/x", "../outside"}},
		"dot-dot name":       {{"d", "d/", ""}, {"f", "d/../outside/secret", ""}},
		"absolute name":      {{"f", "/tmp/PWNED", ""}},
		"file under a link":  {{"d", "d/", ""}, {"d", "d/real/", ""}, {"l", "d/alias", "real"}, {"f", "d/alias/PWNED", ""}},
		"the top is a link":  {{"l", "d", "../outside"}},
	}
	for name, entries := range cases {
		t.Run(name, func(t *testing.T) {
			s := newSandbox(t)
			_, err := storage.ExtractArchive(bytes.NewReader(tarOf(t, entries...)), "d", s.dst)
			if !errors.Is(err, storage.ErrUnsafeEntry) {
				t.Errorf("err = %v, want ErrUnsafeEntry", err)
			}
			if bad := s.escaped(t); len(bad) > 0 {
				t.Errorf("written outside the destination: %v", bad)
			}
		})
	}
}

// Hard links and device files are not written; a symlink already in the destination is
// replaced by a file of the same name, never written through.
func TestCopyOutSkipsLinksAndDevices(t *testing.T) {
	s := newSandbox(t)
	if err := os.MkdirAll(s.dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(s.outside, "secret"), filepath.Join(s.dst, "config")); err != nil {
		t.Fatal(err)
	}
	st, err := storage.ExtractArchive(bytes.NewReader(tarOf(t,
		entry{"d", "d/", ""}, entry{"h", "d/hard", "../outside/secret"}, entry{"c", "d/null", ""}, entry{"f", "d/config", ""},
	)), "d", s.dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Skipped) != 2 || st.Files != 1 {
		t.Errorf("stats %+v: want the hard link and the device skipped, one file", st)
	}
	if bad := s.escaped(t); len(bad) > 0 {
		t.Errorf("written outside the destination: %v", bad)
	}
	if fi, err := os.Lstat(filepath.Join(s.dst, "config")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("config: %v %v, want a regular file in place of the link", fi, err)
	}
}

// Copy-in: links of the local tree that leave it are not uploaded (a later copy would write
// through them into whatever the volume holds there); links inside it are.
func TestCopyInSkipsEscapingLinks(t *testing.T) {
	src := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(src, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "sub", "w"), []byte("weights"), 0o644))
	must(t, os.Symlink("sub/w", filepath.Join(src, "ok")))
	must(t, os.Symlink("../../etc", filepath.Join(src, "sub", "up")))
	must(t, os.Symlink("/etc/passwd", filepath.Join(src, "abs")))
	var buf bytes.Buffer
	st, err := storage.WriteArchive(&buf, src, "m")
	must(t, err)
	var links []string
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Typeflag == tar.TypeSymlink {
			links = append(links, h.Name+" -> "+h.Linkname)
		}
	}
	if !slices.Equal(links, []string{"m/ok -> sub/w"}) {
		t.Errorf("links in the archive: %v, want only m/ok -> sub/w", links)
	}
	if len(st.Skipped) != 2 {
		t.Errorf("skipped %v, want the two escaping links named", st.Skipped)
	}
}

// FuzzExtractArchive: whatever the archive, nothing is written outside the destination and
// every link inside it resolves inside it. A line of the input is "<d|f|l|h|c> name [target]".
func FuzzExtractArchive(f *testing.F) {
	for _, seed := range []string{
		"d d/\nd d/s/\nl d/s/up ..\nl d/s/up/esc ..\nf d/s/up/esc/PWNED",
		"d d/\nl d/a .\nl d/a/b ..\nf d/a/b/outside/x",
		"d d/\nl d/x ../outside\nf d/x/y",
		"d d/\nd d/r/\nl d/r/l ../r\nf d/r/l/l/f",
		"f d\nl d/x y",
		"d d/\nf d/a\nl d/b a\nh d/c ../outside/secret",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		var entries []entry
		for _, line := range strings.Split(spec, "\n") {
			parts := strings.Fields(line)
			if len(parts) < 2 || !strings.Contains("dflhc", parts[0]) || len(parts[0]) != 1 {
				continue
			}
			e := entry{typ: parts[0], name: parts[1]}
			if len(parts) > 2 {
				e.link = parts[2]
			}
			entries = append(entries, e)
		}
		if len(entries) == 0 || len(entries) > 20 {
			return
		}
		archive, err := encodeTar(entries)
		if err != nil {
			return // not an archive tar can write
		}
		s := newSandbox(t)
		_, _ = storage.ExtractArchive(bytes.NewReader(archive), "d", s.dst)
		if bad := s.escaped(t); len(bad) > 0 {
			t.Fatalf("written outside the destination: %v", bad)
		}
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// brokenExec reads n bytes of the archive, then fails, as a connection that drops mid-copy.
type brokenExec struct{ n int64 }

func (b brokenExec) Exec(_ context.Context, _ *corev1.Pod, _ []string, s remotecommand.StreamOptions) error {
	_, _ = io.CopyN(io.Discard, s.Stdin, b.n)
	return errors.New("connection reset")
}

// An interrupted copy in reports what was sent, not the size of everything it meant to send.
func TestInterruptedCopyInCountsWhatWasSent(t *testing.T) {
	src := t.TempDir()
	big := bytes.Repeat([]byte("w"), 4<<20)
	must(t, os.WriteFile(filepath.Join(src, "a.bin"), big, 0o644))
	must(t, os.WriteFile(filepath.Join(src, "b.bin"), big, 0o644))
	st, err := storage.CopyIn(t.Context(), brokenExec{n: 1 << 20}, &corev1.Pod{}, src, "m")
	if err == nil {
		t.Fatal("no error from a broken copy")
	}
	// The stream is a pipe: what was written is what was read, give or take one copy buffer.
	if st.Bytes > 1<<20+64<<10 || st.Files != 0 {
		t.Errorf("stats %+v after 1 MiB of 8 MiB went: more is claimed than was sent", st)
	}
}
