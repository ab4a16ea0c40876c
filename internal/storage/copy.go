package storage

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/remotecommand"
)

// Location is one side of `dynamoctl pvc cp`: a local path, or a path inside a claim.
type Location struct {
	Claim string
	// Path is local, or, for a claim, relative to the volume's root ("." for the root).
	Path string
}

// Remote reports whether the location is inside a claim.
func (l Location) Remote() bool { return l.Claim != "" }

// ParseLocation reads "pvc:NAME:/path" (a path in the claim) or a local path. A claim path
// must stay inside the volume: ".." components are refused.
func ParseLocation(s string) (Location, error) {
	rest, ok := strings.CutPrefix(s, "pvc:")
	if !ok {
		if s == "" {
			return Location{}, errors.New("empty path")
		}
		return Location{Path: s}, nil
	}
	claim, p, ok := strings.Cut(rest, ":")
	if !ok || claim == "" {
		return Location{}, fmt.Errorf("%q: want pvc:NAME:/path", s)
	}
	rel, err := VolumePath(p)
	if err != nil {
		return Location{}, fmt.Errorf("%q: %w", s, err)
	}
	return Location{Claim: claim, Path: rel}, nil
}

// VolumePath turns a path in the volume ("/models/x", "models/x", "/") into one relative to
// its root, refusing any ".." component.
func VolumePath(p string) (string, error) {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", errors.New("the path leaves the volume (..)")
		}
	}
	rel := strings.TrimPrefix(path.Clean("/"+p), "/")
	if rel == "" {
		rel = "."
	}
	return rel, nil
}

// remoteArg makes a path relative to the volume safe as an argument of a command in the access
// pod: "./" in front, so a name like "-delete" is never read as an option by find or tar.
func remoteArg(rel string) string {
	if rel == "." || strings.HasPrefix(rel, "./") {
		return rel
	}
	return "./" + rel
}

// Stats counts what a copy moved.
type Stats struct {
	Files int
	Dirs  int
	Bytes int64
	// Skipped lists entries left out (device files, sockets, absolute symlinks).
	Skipped []string
}

// tarRecord is tar's default record size (blocking factor 20). The archive is padded to it so
// the remote tar reads its end-of-archive marker and exits without waiting for stdin to close.
const tarRecord = 20 * 512

// CopyIn copies a local file or directory tree to dst inside the volume (dst becomes the copy
// of src, like cp -r src dst), preserving modes, streaming a tar archive into `tar -x` in the
// access pod.
func CopyIn(ctx context.Context, ex Execer, pod *corev1.Pod, src, dst string) (Stats, error) {
	if _, err := os.Lstat(src); err != nil {
		return Stats{}, err
	}
	parent, base := path.Dir(dst), path.Base(dst)
	pr, pw := io.Pipe()
	var st Stats
	writeErr := make(chan error, 1)
	go func() {
		var err error
		st, err = WriteArchive(pw, src, base)
		_ = pw.CloseWithError(err)
		writeErr <- err
	}()
	var stderr bytes.Buffer
	cmd := []string{"sh", "-c", `mkdir -p "$1" && exec tar -xpf - -C "$1"`, "sh", remoteArg(parent)}
	err := ex.Exec(ctx, pod, cmd, remotecommand.StreamOptions{Stdin: pr, Stdout: io.Discard, Stderr: &stderr})
	_ = pr.CloseWithError(errors.New("remote side ended"))
	werr := <-writeErr
	if err != nil {
		return st, fmt.Errorf("%w%s", err, remoteStderr(&stderr))
	}
	if werr != nil {
		return st, werr
	}
	return st, nil
}

// WriteArchive writes src as a tar archive whose top entry is named top ("." puts a
// directory's contents at the root), padded to a whole record. Symlinks that leave the copied
// tree, device files and sockets are left out and listed in Stats.Skipped.
func WriteArchive(w io.Writer, src, top string) (Stats, error) {
	var st Stats
	err := writeArchive(w, src, top, &st)
	return st, err
}

func writeArchive(w io.Writer, src, top string, st *Stats) error {
	cw := &countingWriter{w: w}
	tw := tar.NewWriter(cw)
	root := filepath.Clean(src)
	// The source the user named is followed when it is a link; links inside it are copied as
	// links.
	if resolved, err := filepath.EvalSymlinks(root); err == nil {
		root = resolved
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := path.Join(top, filepath.ToSlash(rel))
		if name == "." {
			return nil // the root itself when copying a directory's contents into "."
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
			// A link that leaves the copied tree would point at whatever lies there in the
			// volume, and a later copy would write through it.
			if err := SafeLink(filepath.ToSlash(rel), filepath.ToSlash(link)); err != nil {
				st.Skipped = append(st.Skipped, name+" (symlink "+link+": "+err.Error()+")")
				return nil
			}
		case info.IsDir():
			st.Dirs++
		case info.Mode().IsRegular():
		default:
			st.Skipped = append(st.Skipped, name+" ("+info.Mode().Type().String()+")")
			return nil
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = name, 0, 0, "", ""
		if info.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			n, err := io.Copy(tw, f)
			_ = f.Close()
			// Counted as sent only once the whole file went: an interrupted copy reports
			// what reached the stream, not what it meant to send.
			st.Bytes += n
			if err == nil {
				st.Files++
			}
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if pad := (tarRecord - cw.n%tarRecord) % tarRecord; pad > 0 {
		_, err = cw.Write(make([]byte, pad))
	}
	return err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// CopyOut copies src inside the volume to the local path dst (dst becomes the copy of src),
// reading `tar -c` from the access pod. Every entry is checked before anything is written for
// it: absolute names, ".." components and links that leave dst are refused (tar slip).
func CopyOut(ctx context.Context, ex Execer, pod *corev1.Pod, src, dst string) (Stats, error) {
	parent, base := path.Dir(src), path.Base(src)
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	execErr := make(chan error, 1)
	go func() {
		err := ex.Exec(ctx, pod, []string{"tar", "-cf", "-", "-C", remoteArg(parent), remoteArg(base)}, remotecommand.StreamOptions{Stdout: pw, Stderr: &stderr})
		_ = pw.CloseWithError(err)
		execErr <- err
	}()
	st, err := ExtractArchive(pr, base, dst)
	_ = pr.CloseWithError(errors.New("local side stopped reading"))
	if eerr := <-execErr; eerr != nil && err == nil {
		return st, fmt.Errorf("%w%s", eerr, remoteStderr(&stderr))
	}
	return st, err
}

// ErrUnsafeEntry is an archive entry that would be written outside the destination.
var ErrUnsafeEntry = errors.New("archive entry leaves the destination")

// ExtractArchive writes the entries of a tar stream whose top entry is top under dst (top
// itself becomes dst). It refuses, before writing it, any entry that would land outside dst:
// absolute names, ".." components, links whose target leaves dst, and any entry beneath a
// symlink — a link inside dst to a directory inside dst would pass a check of its target as
// text, and a second link written through it could then point anywhere (d/up -> ..,
// d/up/esc -> .., d/up/esc/file). Real directories are all tar ever writes above an entry, so
// nothing a copy of a real tree needs is refused. All writes go through an os.Root opened at
// dst's parent, so the kernel-level lookup cannot leave it either.
func ExtractArchive(r io.Reader, top, dst string) (Stats, error) {
	st, err := extractArchive(r, top, dst)
	// A hostile entry's name can be thousands of characters: an error says it in a line.
	var pe *fs.PathError
	if errors.As(err, &pe) {
		pe.Path = shortName(pe.Path)
	}
	return st, err
}

// shortName is a name fit for a one-line message: a long one keeps its start and end.
func shortName(s string) string {
	if len(s) <= 160 {
		return s
	}
	return fmt.Sprintf("%s…%s (%d characters)", s[:80], s[len(s)-40:], len(s))
}

func extractArchive(r io.Reader, top, dst string) (Stats, error) {
	var st Stats
	tr := tar.NewReader(bufio.NewReader(r))
	dst = filepath.Clean(dst)
	// A destination that is itself a symlink is the user's choice: write where it points.
	if resolved, err := filepath.EvalSymlinks(dst); err == nil {
		dst = resolved
	}
	parent, base := filepath.Dir(dst), filepath.Base(dst)
	if base == string(filepath.Separator) || base == "." {
		parent, base = dst, "."
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return st, err
	}
	root, err := os.OpenRoot(parent)
	if err != nil {
		return st, err
	}
	defer func() { _ = root.Close() }()
	x := extractor{root: root, base: base, realDirs: map[string]bool{}}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return st, nil
		}
		if err != nil {
			return st, fmt.Errorf("read archive: %w", err)
		}
		rel, err := EntryPath(hdr.Name, top)
		if err != nil {
			return st, err
		}
		if err := x.noLinkAbove(rel); err != nil {
			return st, fmt.Errorf("%w: %s (%w)", ErrUnsafeEntry, shortName(hdr.Name), err)
		}
		name := path.Join(base, rel)
		mode := hdr.FileInfo().Mode().Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := x.replaceLink(name); err != nil {
				return st, err
			}
			if err := root.MkdirAll(name, mode|0o700); err != nil {
				return st, err
			}
			_ = root.Chmod(name, mode)
			x.realDirs[rel] = true
			st.Dirs++
		case tar.TypeReg:
			if err := x.prepare(name); err != nil {
				return st, err
			}
			f, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
			if err != nil {
				return st, err
			}
			n, err := io.Copy(f, tr)
			st.Bytes += n
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return st, err
			}
			_ = root.Chmod(name, mode)
			st.Files++
		case tar.TypeSymlink:
			if err := SafeLink(rel, hdr.Linkname); err != nil {
				return st, fmt.Errorf("%w: %s -> %s (%w)", ErrUnsafeEntry, shortName(hdr.Name), shortName(hdr.Linkname), err)
			}
			if err := x.prepare(name); err != nil {
				return st, err
			}
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return st, err
			}
		default:
			st.Skipped = append(st.Skipped, hdr.Name)
		}
	}
}

// extractor holds what ExtractArchive knows of the tree it writes.
type extractor struct {
	root *os.Root
	base string
	// realDirs are directories (relative to dst) known not to be symlinks.
	realDirs map[string]bool
}

// noLinkAbove refuses an entry when any directory between dst and it is a symlink.
func (x *extractor) noLinkAbove(rel string) error {
	if rel == "." {
		return nil
	}
	dir := path.Dir(rel)
	var prefix string
	for _, part := range strings.Split(dir, "/") {
		if part == "." {
			break
		}
		prefix = path.Join(prefix, part)
		if x.realDirs[prefix] {
			continue
		}
		fi, err := x.root.Lstat(path.Join(x.base, prefix))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil // created below as a real directory
		case err != nil:
			return err
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%s is a symlink", prefix)
		case fi.IsDir():
			x.realDirs[prefix] = true
		}
	}
	return nil
}

// prepare makes the parent directories of name and removes a symlink already at name, so a
// file is written in place of the link, never through it (as tar does).
func (x *extractor) prepare(name string) error {
	if err := x.root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	return x.replaceLink(name)
}

func (x *extractor) replaceLink(name string) error {
	fi, err := x.root.Lstat(name)
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return x.root.Remove(name)
	}
	return nil
}

// EntryPath maps an archive entry name to a path relative to the destination: the top entry
// becomes ".", "top/a/b" becomes "a/b". Absolute names, ".." components and names outside
// top are refused.
func EntryPath(name, top string) (string, error) {
	n := strings.TrimSuffix(name, "/")
	if n == "" || strings.HasPrefix(n, "/") || filepath.IsAbs(n) {
		return "", fmt.Errorf("%w: %q is absolute", ErrUnsafeEntry, shortName(name))
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: %q has a .. component", ErrUnsafeEntry, shortName(name))
		}
	}
	n = path.Clean(n)
	if top == "." {
		return n, nil
	}
	if n == top {
		return ".", nil
	}
	rest, ok := strings.CutPrefix(n, top+"/")
	if !ok {
		return "", fmt.Errorf("%w: %q is outside %q", ErrUnsafeEntry, shortName(name), top)
	}
	return rest, nil
}

// SafeLink checks a symlink at rel (relative to the destination) pointing at target: the
// target must be relative and resolve, lexically, inside the destination.
func SafeLink(rel, target string) error {
	if target == "" || path.IsAbs(target) || filepath.IsAbs(target) {
		return errors.New("absolute target")
	}
	if rel == "." {
		// The destination itself would be the link, resolved from its parent directory.
		return errors.New("the copied path itself is a symlink")
	}
	resolved := path.Clean(path.Join(path.Dir(rel), target))
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return errors.New("target outside the destination")
	}
	return nil
}

// Verify compares the SHA-256 of every regular file under local with the file at the same
// relative path under remote in the volume (sha256sum in the access pod). It returns the
// number of files compared.
func Verify(ctx context.Context, ex Execer, pod *corev1.Pod, remote, local string) (int, error) {
	var out, stderr bytes.Buffer
	remote = remoteArg(remote)
	cmd := []string{"find", remote, "-type", "f", "-exec", "sha256sum", "{}", "+"}
	if err := ex.Exec(ctx, pod, cmd, remotecommand.StreamOptions{Stdout: &out, Stderr: &stderr}); err != nil {
		return 0, fmt.Errorf("remote checksums: %w%s", err, remoteStderr(&stderr))
	}
	remoteSums := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		sum, p, ok := strings.Cut(line, "  ")
		if !ok {
			continue
		}
		rel, err := filepath.Rel(remote, p)
		if err != nil {
			continue
		}
		remoteSums[filepath.ToSlash(rel)] = sum
	}
	localSums := map[string]string{}
	err := filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		rel, _ := filepath.Rel(local, p)
		localSums[filepath.ToSlash(rel)] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		return 0, err
	}
	var bad []string
	for rel, sum := range localSums {
		switch r, ok := remoteSums[rel]; {
		case !ok:
			bad = append(bad, rel+" missing in the volume")
		case r != sum:
			bad = append(bad, rel+" differs")
		}
	}
	for rel := range remoteSums {
		if _, ok := localSums[rel]; !ok {
			bad = append(bad, rel+" missing locally")
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return len(localSums), fmt.Errorf("verify: %d of %d files do not match: %s", len(bad), len(localSums), strings.Join(bad, ", "))
	}
	return len(localSums), nil
}

func remoteStderr(b *bytes.Buffer) string {
	if s := strings.TrimSpace(b.String()); s != "" {
		return ": " + s
	}
	return ""
}

// CopyRequest is one `pvc cp`: exactly one of Src and Dst is inside a claim.
type CopyRequest struct {
	Src, Dst Location
	// Access starts (or reuses) the access pod for the claim; a pod it started is deleted after
	// the copy unless Keep.
	Access       func(ctx context.Context, claim string) (pod *corev1.Pod, reused bool, err error)
	DeletePod    func(ctx context.Context, pod *corev1.Pod) error
	Keep, Verify bool
	// IdleTimeout ends the copy when no data moves for this long (0: no bound).
	IdleTimeout time.Duration
}

// CopyResult is what a copy moved and, with Verify, how many files were compared.
type CopyResult struct {
	Stats    Stats
	Verified int
}

// Copy runs a copy in either direction through an access pod, verifies it when asked, and
// deletes a pod it started (also on error and interrupt).
func Copy(ctx context.Context, ex Execer, r CopyRequest) (res CopyResult, err error) {
	if r.Src.Remote() == r.Dst.Remote() {
		return res, errors.New("one side must be pvc:NAME:/path and the other a local path")
	}
	remote, local := r.Src, r.Dst
	if r.Dst.Remote() {
		remote, local = r.Dst, r.Src
		if _, err := os.Lstat(r.Src.Path); err != nil {
			return res, err
		}
	}
	ex = IdleTimeout(ex, r.IdleTimeout)
	pod, reused, err := r.Access(ctx, remote.Claim)
	if err != nil {
		return res, err
	}
	if !reused && !r.Keep {
		defer func() { err = errors.Join(err, r.DeletePod(ctx, pod)) }()
	}
	if r.Dst.Remote() {
		res.Stats, err = CopyIn(ctx, ex, pod, local.Path, remote.Path)
	} else {
		res.Stats, err = CopyOut(ctx, ex, pod, remote.Path, local.Path)
	}
	if err != nil || !r.Verify {
		return res, err
	}
	res.Verified, err = Verify(ctx, ex, pod, remote.Path, local.Path)
	return res, err
}
