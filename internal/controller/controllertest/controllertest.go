// Package controllertest runs the operator against a simulated cluster for tests: a cluster
// with the CRD installed, the manager in this process, a client, and a poll helper. One kit for
// the controller's own tests and the hostile suite.
package controllertest

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/controller"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
)

// RenderConfig is the operator configuration the tests run with.
var RenderConfig = render.Config{NATSAddress: "nats://nats:4222", EtcdAddress: "http://etcd:2379"}

// CapacityRefresh is the operator's --capacity-refresh in tests: short, so that a figure
// follows a change within a test's patience.
const CapacityRefresh = 5 * time.Second

// PlacementRefresh is the operator's --placement-refresh in tests: a relabelled node shows in
// PlacementVerified within seconds.
const PlacementRefresh = 2 * time.Second

// StartOperator runs the operator's manager in this process until the test ends.
func StartOperator(t testing.TB, c *devcluster.Cluster) {
	t.Helper()
	StartOperatorWithConfig(t, c.RESTConfig())
}

// StartOperatorWithConfig runs the operator's manager with cfg (a wrapped or impersonating
// config) in this process until the test ends.
func StartOperatorWithConfig(t testing.TB, cfg *rest.Config) {
	t.Helper()
	mgr, err := controller.NewManager(cfg, controller.Options{Render: RenderConfig, MetricsBindAddress: "0", HealthProbeBindAddress: "0", SkipControllerNameValidation: true,
		CapacityRefresh: CapacityRefresh, PlacementRefresh: PlacementRefresh})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
}

// Setup starts a cluster with the CRD installed and the operator running, and returns a client.
func Setup(t testing.TB, profile string, mutate ...func(*devcluster.Options)) (*devcluster.Cluster, client.Client) {
	t.Helper()
	c := devclustertest.Start(t, profile, mutate...)
	devclustertest.InstallCRDs(t, c.RESTConfig(), testkit.CRDPath(), testkit.WorkerMetadataCRDPath(), testkit.ScalingAdapterCRDPath(), testkit.DynamoModelCRDPath())
	StartOperator(t, c)
	cl, err := client.New(c.RESTConfig(), client.Options{Scheme: controller.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c, cl
}

// CreateGraph decodes manifest (one DynamoGraphDeployment, as `kubectl apply` reads it; its
// namespace defaults to "default") and creates it with cl, returning what was sent.
func CreateGraph(t testing.TB, cl client.Client, manifest string) *v1alpha1.DynamoGraphDeployment {
	t.Helper()
	dgds, err := render.DecodeGraphs(strings.NewReader(manifest), "inline", "default")
	if err != nil {
		t.Fatal(err)
	}
	if len(dgds) != 1 {
		t.Fatalf("manifest holds %d graphs, want 1", len(dgds))
	}
	if err := cl.Create(context.Background(), dgds[0]); err != nil {
		t.Fatal(err)
	}
	return dgds[0]
}
