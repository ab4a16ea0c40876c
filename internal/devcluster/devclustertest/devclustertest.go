// Package devclustertest starts simulated clusters for tests: one call, stopped in t.Cleanup.
package devclustertest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
	"github.com/dynamo-infra/dynamo-infra/internal/webhook"
)

// EnvKeep keeps a test cluster's directory (logs, etcd data) after the test when set to 1.
const EnvKeep = "DYNAMO_KEEP_TEST_CLUSTER"

// Start starts a cluster with the given profile and stops it when the test ends, whether it
// passes or fails. A failed test gets the tail of each component's log.
func Start(t testing.TB, profile string, mutate ...func(*devcluster.Options)) *devcluster.Cluster {
	t.Helper()
	p, err := simnode.ParseProfile(profile)
	if err != nil {
		t.Fatalf("profile %q: %v", profile, err)
	}
	opts := devcluster.Options{Profile: p, KeepDir: os.Getenv(EnvKeep) == "1"}
	for _, m := range mutate {
		m(&opts)
	}
	c, err := devcluster.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start dev cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logTails(t, c)
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stop dev cluster: %v", err)
		}
		if opts.KeepDir {
			t.Logf("kept dev cluster files in %s", c.Dir())
		}
	})
	return c
}

func logTails(t testing.TB, c *devcluster.Cluster) {
	for _, comp := range c.State().Components {
		b, err := os.ReadFile(comp.Log)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		t.Logf("--- last lines of %s:\n%s", comp.Log, strings.Join(lines, "\n"))
	}
}

// InstallCRDs applies the CRDs in the given YAML files and waits until each is served.
func InstallCRDs(t testing.TB, cfg *rest.Config, files ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := devcluster.InstallCRDs(ctx, cfg, raw); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		// The graph's versions convert through a webhook: served by this process until an
		// operator under test serves it (and back here when it stops: RestoreConversion).
		if bytes.Contains(raw, []byte("name: "+webhook.CRDName)) {
			if err := devcluster.ServeConversion(ctx, cfg); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// RestoreConversion points the graph CRD's conversion back at this process (after a test whose
// operator served it).
func RestoreConversion(t testing.TB, cfg *rest.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := devcluster.ServeConversion(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// WithLWS runs the LeaderWorkerSet controller in the cluster, with its CRD and webhooks.
func WithLWS(o *devcluster.Options) { o.LWS = true }

// WithInferenceGateway installs the InferencePool CRD (devcluster.Options.InferenceGateway).
func WithInferenceGateway(o *devcluster.Options) { o.InferenceGateway = true }

// WithDRA publishes the GPUs as DRA devices (devcluster.Options.DRA).
func WithDRA(o *devcluster.Options) { o.DRA = true }

// ExecVolume makes kwok run every exec into a pod of namespace ns as a local command in dir, a
// directory standing in for the volume the pod mounts: tar, find and sha256sum then really run.
func ExecVolume(ns, dir string) func(*devcluster.Options) {
	return func(o *devcluster.Options) {
		o.KwokConfig = append(o.KwokConfig, fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata:
  name: volume-%s
spec:
  selector:
    matchNamespaces: [%s]
  execs:
  - local:
      workDir: %s
`, ns, ns, dir))
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, for a server a test is
// about to start.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// GPUClaimTemplate is a ResourceClaimTemplate asking for count whole GPUs of the class the
// cluster publishes WithDRA.
func GPUClaimTemplate(ns, name string, count int64) *resourcev1.ResourceClaimTemplate {
	return &resourcev1.ResourceClaimTemplate{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: resourcev1.ResourceClaimTemplateSpec{Spec: resourcev1.ResourceClaimSpec{Devices: resourcev1.DeviceClaim{Requests: []resourcev1.DeviceRequest{{
			Name: "gpus", Exactly: &resourcev1.ExactDeviceRequest{DeviceClassName: nvidia.DeviceClassGPU, Count: count}}}}}}}
}
