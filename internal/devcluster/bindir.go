package devcluster

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// EnvBinDir overrides where the control-plane binaries are looked up.
const EnvBinDir = "DYNAMO_CLUSTER_BIN_DIR"

// Binary names the cluster runs; hack/cluster-bin.sh builds them.
const (
	BinEtcd              = "etcd"
	BinAPIServer         = "kube-apiserver"
	BinControllerManager = "kube-controller-manager"
	BinScheduler         = "kube-scheduler"
	BinKwok              = "kwok"
)

// Binaries lists every binary a cluster needs (BinLWS only runs with Options.LWS, but a
// build folder is complete with it: hack/cluster-bin.sh builds them together).
var Binaries = []string{BinEtcd, BinAPIServer, BinControllerManager, BinScheduler, BinKwok, BinLWS}

const modulePath = "github.com/dynamo-infra/dynamo-infra"

// FindBinDir returns the first directory holding every cluster binary, looking at
// $DYNAMO_CLUSTER_BIN_DIR, bin/k8s of the repository containing the working directory, k8s/ beside
// the running executable, and the newest complete build in the user's cache.
func FindBinDir() (string, error) {
	if d := os.Getenv(EnvBinDir); d != "" {
		if err := checkBinDir(d); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvBinDir, d, err)
		}
		return d, nil
	}
	var candidates []string
	if root, ok := repoRoot(); ok {
		candidates = append(candidates, filepath.Join(root, "bin", "k8s"))
	}
	if exe, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(exe), "k8s"))
	}
	candidates = append(candidates, cachedBuilds()...)
	for _, d := range candidates {
		if checkBinDir(d) == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("control-plane binaries not found (looked in %s): run `make cluster-bin` or set %s", strings.Join(candidates, ", "), EnvBinDir)
}

func checkBinDir(dir string) error {
	for _, b := range Binaries {
		fi, err := os.Stat(filepath.Join(dir, b))
		if err != nil {
			return fmt.Errorf("missing %s", b)
		}
		if fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is not executable", b)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, LWSCRDFile)); err != nil {
		return fmt.Errorf("missing %s", LWSCRDFile)
	}
	return nil
}

// repoRoot walks up from the working directory to this project's go.mod.
func repoRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if isOurModule(filepath.Join(dir, "go.mod")) {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func isOurModule(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); strings.HasPrefix(line, "module ") {
			return strings.TrimSpace(strings.TrimPrefix(line, "module ")) == modulePath
		}
	}
	return false
}

// CacheDir is the user's cache directory for this project: $XDG_CACHE_HOME/dynamo-infra, else
// ~/.cache/dynamo-infra.
func CacheDir() string {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return filepath.Join(os.TempDir(), "dynamo-infra")
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "dynamo-infra")
}

// cachedBuilds lists the cache's build folders, newest first.
func cachedBuilds() []string {
	root := filepath.Join(CacheDir(), "cluster-bin")
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	type build struct {
		dir string
		mod int64
	}
	var builds []build
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if fi, err := e.Info(); err == nil {
			builds = append(builds, build{filepath.Join(root, e.Name()), fi.ModTime().UnixNano()})
		}
	}
	sort.Slice(builds, func(i, j int) bool { return builds[i].mod > builds[j].mod })
	dirs := make([]string, len(builds))
	for i, b := range builds {
		dirs[i] = b.dir
	}
	return dirs
}
