package storage

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func archive(t *testing.T, entries ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		body := ""
		if h.Typeflag == tar.TypeReg {
			body = "x"
			h.Size = 1
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(body))
	}
	_ = tw.Close()
	return buf.Bytes()
}

// Archives that try to write outside the destination are refused before the entry is written.
func TestExtractRefusesTarSlip(t *testing.T) {
	cases := map[string][]tar.Header{
		"dot-dot":               {{Name: "top/../../evil", Typeflag: tar.TypeReg}},
		"absolute":              {{Name: "/tmp/evil", Typeflag: tar.TypeReg}},
		"outside top":           {{Name: "other/evil", Typeflag: tar.TypeReg}},
		"absolute symlink":      {{Name: "top/", Typeflag: tar.TypeDir}, {Name: "top/link", Typeflag: tar.TypeSymlink, Linkname: "/etc"}},
		"escaping symlink":      {{Name: "top/", Typeflag: tar.TypeDir}, {Name: "top/a/link", Typeflag: tar.TypeSymlink, Linkname: "../../../evil"}},
		"dot-dot after content": {{Name: "top/ok", Typeflag: tar.TypeReg}, {Name: "top/sub/../../../evil", Typeflag: tar.TypeReg}},
	}
	for name, entries := range cases {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			dst := filepath.Join(base, "dst")
			_, err := ExtractArchive(bytes.NewReader(archive(t, entries...)), "top", dst)
			if !errors.Is(err, ErrUnsafeEntry) {
				t.Fatalf("err = %v, want ErrUnsafeEntry", err)
			}
			_ = filepath.Walk(base, func(p string, info os.FileInfo, err error) error {
				if err == nil && !strings.HasPrefix(p, dst) && p != base {
					t.Errorf("%s written outside the destination", p)
				}
				return nil
			})
			if _, err := os.Lstat(filepath.Join(base, "evil")); err == nil {
				t.Error("evil written")
			}
		})
	}
}

func TestExtractKeepsSafeArchives(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "out")
	st, err := ExtractArchive(bytes.NewReader(archive(t,
		tar.Header{Name: "top/", Typeflag: tar.TypeDir, Mode: 0o755},
		tar.Header{Name: "top/a/b", Typeflag: tar.TypeReg, Mode: 0o600},
		tar.Header{Name: "top/a/link", Typeflag: tar.TypeSymlink, Linkname: "b"},
		tar.Header{Name: "top/up", Typeflag: tar.TypeSymlink, Linkname: "a/../a/b"},
		tar.Header{Name: "top/fifo", Typeflag: tar.TypeFifo},
	)), "top", dst)
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 1 || st.Dirs != 1 || len(st.Skipped) != 1 {
		t.Errorf("stats %+v", st)
	}
	if fi, err := os.Stat(filepath.Join(dst, "a", "b")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("a/b: %v %v", fi, err)
	}
}

func TestParseLocation(t *testing.T) {
	cases := []struct {
		in, claim, path, err string
	}{
		{"./models", "", "./models", ""},
		{"pvc:cache:/models/qwen", "cache", "models/qwen", ""},
		{"pvc:cache:models/qwen/", "cache", "models/qwen", ""},
		{"pvc:cache:/", "cache", ".", ""},
		{"pvc:cache:", "cache", ".", ""},
		{"pvc:cache:/models/../../etc", "", "", "leaves the volume"},
		{"pvc:cache:..", "", "", "leaves the volume"},
		{"pvc::/x", "", "", "want pvc:NAME:/path"},
		{"pvc:cache", "", "", "want pvc:NAME:/path"},
		{"", "", "", "empty path"},
	}
	for _, c := range cases {
		got, err := ParseLocation(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got.Claim != c.claim || got.Path != c.path {
			t.Errorf("%q: %+v %v, want %s %s", c.in, got, err, c.claim, c.path)
		}
	}
}

// Whatever the names in an archive, an accepted entry lands inside the destination and an
// accepted symlink points inside it.
func FuzzEntryPath(f *testing.F) {
	for _, s := range []string{"top", "top/a", "top/../x", "/abs", "top/a/../../b", "./top/x", "top//a", "..", "top/.."} {
		f.Add(s, "top", "../b")
	}
	f.Fuzz(func(t *testing.T, name, top, link string) {
		if top == "" || strings.Contains(top, "/") || top == ".." {
			return
		}
		rel, err := EntryPath(name, top)
		if err != nil {
			return
		}
		dst := "/dst"
		target := filepath.Join(dst, filepath.FromSlash(rel))
		if target != dst && !strings.HasPrefix(target, dst+"/") {
			t.Fatalf("EntryPath(%q, %q) = %q lands at %s", name, top, rel, target)
		}
		if SafeLink(rel, link) == nil {
			resolved := filepath.Join(filepath.Dir(target), link)
			if resolved != dst && !strings.HasPrefix(resolved, dst+"/") {
				t.Fatalf("SafeLink(%q, %q) accepted a link to %s", rel, link, resolved)
			}
		}
	})
}
