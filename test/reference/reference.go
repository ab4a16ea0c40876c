// Package reference finds the original project's reference files, which live in shared/ beside
// this repository (in every checkout and in CI) and are not ours to copy into it.
package reference

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Image substitutes ${IMAGE} in the reference example.
const Image = "nvcr.io/nvidia/ai-dynamo/vllm-runtime:0.6.1"

// Dir returns shared/reference, looked for beside the repository root and up to two levels above.
func Dir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	var tried []string
	for dir := wd; ; dir = filepath.Dir(dir) {
		for _, up := range []string{"shared", filepath.Join("..", "shared"), filepath.Join("..", "..", "shared")} {
			p := filepath.Join(dir, up, "reference")
			if _, err := os.Stat(filepath.Join(p, "dgd.yaml")); err == nil {
				return filepath.Clean(p), nil
			}
			tried = append(tried, filepath.Clean(p))
		}
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil || filepath.Dir(dir) == dir {
			break
		}
	}
	return "", fmt.Errorf("shared/reference/dgd.yaml not found beside the repository (tried %s)", strings.Join(tried, ", "))
}

// DGDExample returns the original's example DynamoGraphDeployment with ${IMAGE} substituted.
func DGDExample() ([]byte, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "dgd.yaml"))
	if err != nil {
		return nil, err
	}
	return []byte(strings.ReplaceAll(string(b), "${IMAGE}", Image)), nil
}
