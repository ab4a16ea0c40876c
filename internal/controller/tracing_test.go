package controller_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/config"
	"github.com/dynamo-infra/dynamo-infra/internal/controller"
	"github.com/dynamo-infra/dynamo-infra/internal/controller/controllertest"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
)

// Each reconcile is one trace: a root span naming the graph with a child per step. A step the
// API server refuses marks its span and the root as errors — here the reconciler runs as a user
// with the operator's generated rules minus Services, so applying the Service is forbidden.
func TestReconcileTraces(t *testing.T) {
	c := devclustertest.Start(t, "cpu=1")
	devclustertest.InstallCRDs(t, c.RESTConfig(), testkit.CRDPath())
	ctx := context.Background()
	admin, err := client.New(c.RESTConfig(), client.Options{Scheme: controller.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	spans := tracetest.NewSpanRecorder()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)).Tracer(controller.TracerName)

	create := func(name string) {
		t.Helper()
		controllertest.CreateGraph(t, admin, `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: `+name+`}
spec:
  services:
    Frontend:
      componentType: frontend
      extraPodSpec: {mainContainer: {image: registry.example/frontend:1}}
`)
	}
	// trace returns the root span of the last reconcile of name and its children by name.
	trace := func(name string) (sdktrace.ReadOnlySpan, map[string]sdktrace.ReadOnlySpan) {
		t.Helper()
		var root sdktrace.ReadOnlySpan
		for _, s := range spans.Ended() {
			if s.Name() == "Reconcile" && attr(s, controller.AttrGraphName) == name {
				root = s
			}
		}
		if root == nil {
			t.Fatalf("no Reconcile span for %s", name)
		}
		children := map[string]sdktrace.ReadOnlySpan{}
		for _, s := range spans.Ended() {
			if s.Parent().SpanID() == root.SpanContext().SpanID() {
				children[s.Name()] = s
			}
		}
		return root, children
	}
	steps := []string{"apply prerequisites", "apply workloads", "observe", "write status"}

	create("traced")
	r := &controller.Reconciler{Client: admin, Config: renderConfig, Tracer: tracer}
	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Namespace: "default", Name: "traced"}}); err != nil {
		t.Fatal(err)
	}
	root, children := trace("traced")
	if root.Parent().IsValid() || attr(root, controller.AttrGraphNamespace) != "default" || attr(root, controller.AttrGraphGeneration) != "1" ||
		attr(root, controller.AttrGraphState) == "" || root.Status().Code == codes.Error {
		t.Errorf("root span: parent %v attrs %v status %v", root.Parent(), root.Attributes(), root.Status())
	}
	if got := slices.Sorted(maps.Keys(children)); !slices.Equal(got, steps) {
		t.Errorf("child spans %v, want %v", got, steps)
	}
	// Deployment, Service and the discovery RoleBinding (it waits for its Role).
	if n := attr(children["apply workloads"], controller.AttrObjects); n != "3" {
		t.Errorf("apply workloads: %s objects, want 3", n)
	}
	for name, s := range children {
		if s.Status().Code == codes.Error || s.SpanContext().TraceID() != root.SpanContext().TraceID() {
			t.Errorf("%s: status %v, trace %v", name, s.Status(), s.SpanContext().TraceID())
		}
	}

	// The operator's rules without Services, for a user the reconciler impersonates.
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(config.OperatorRole, role); err != nil {
		t.Fatal(err)
	}
	role.Name = "dynamo-operator-no-services"
	for i, rule := range role.Rules {
		role.Rules[i].Resources = slices.DeleteFunc(rule.Resources, func(r string) bool { return r == "services" })
	}
	role.Rules = slices.DeleteFunc(role.Rules, func(r rbacv1.PolicyRule) bool { return len(r.Resources) == 0 })
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "no-services"}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	cfg := rest.CopyConfig(c.RESTConfig())
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "no-services"}
	limited, err := client.New(cfg, client.Options{Scheme: controller.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	create("denied")
	r = &controller.Reconciler{Client: limited, Config: renderConfig, Tracer: tracer}
	_, err = r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKey{Namespace: "default", Name: "denied"}})
	if err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("reconcile without Service rights: err = %v, want forbidden", err)
	}
	root, children = trace("denied")
	if root.Status().Code != codes.Error || !strings.Contains(root.Status().Description, "forbidden") {
		t.Errorf("root span status %v, want Error naming forbidden", root.Status())
	}
	workloads := children["apply workloads"]
	if workloads == nil || workloads.Status().Code != codes.Error || !hasErrorEvent(workloads, "forbidden") {
		t.Errorf("apply workloads span: %v", workloads)
	}
	for _, ok := range []string{"apply prerequisites", "observe", "write status"} {
		if s := children[ok]; s == nil || s.Status().Code == codes.Error {
			t.Errorf("%s: %v, want a span without error", ok, s)
		}
	}
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

func hasErrorEvent(s sdktrace.ReadOnlySpan, substr string) bool {
	for _, e := range s.Events() {
		for _, kv := range e.Attributes {
			if kv.Key == attribute.Key("exception.message") && strings.Contains(kv.Value.AsString(), substr) {
				return true
			}
		}
	}
	return false
}
