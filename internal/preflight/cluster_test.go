package preflight_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/preflight"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/simnode"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/test/reference"
)

// check runs one check with a fresh Env (so nothing is cached between steps) and returns its
// result.
func check(t *testing.T, cfg *rest.Config, id string, mutate ...func(*preflight.Env)) preflight.Result {
	t.Helper()
	env, err := preflight.NewEnv(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env.Profile = preflight.ProfileProduction
	for _, m := range mutate {
		m(env)
	}
	var c []preflight.Check
	for _, r := range preflight.Registry() {
		if r.ID == id {
			c = append(c, r)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep := preflight.Run(ctx, env, c, preflight.RunOptions{CheckTimeout: 20 * time.Second})
	if len(rep.Checks) != 1 {
		t.Fatalf("%d results for %s", len(rep.Checks), id)
	}
	return rep.Checks[0]
}

// expect asserts the status and that the detail (and remediation) contain each want.
func expect(t *testing.T, r preflight.Result, status preflight.Status, want ...string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: status %s, want %s (detail %q)", r.ID, r.Status, status, r.Detail)
		return
	}
	text := r.Detail + " | " + r.Remediation
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s: %q does not mention %q", r.ID, text, w)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Every check of a GPU cluster through its pass, warn and fail paths, made real on the API
// server one step at a time.
func TestChecksOnGPUCluster(t *testing.T) {
	c := devclustertest.Start(t, "h100=2,cpu=1")
	cfg, cs := c.RESTConfig(), c.Client()
	ctx := ctxT(t)

	t.Run("api-connectivity", func(t *testing.T) {
		expect(t, check(t, cfg, "api-connectivity"), preflight.Pass, "v1.36", cfg.Host)
	})

	t.Run("default-storageclass", func(t *testing.T) {
		expect(t, check(t, cfg, "default-storageclass"), preflight.Fail, "no StorageClass")
		mk := func(name string, def bool) {
			sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "example.com/" + name}
			if def {
				sc.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
			}
			_, err := cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
			must(t, err)
		}
		mk("standard", false)
		expect(t, check(t, cfg, "default-storageclass"), preflight.Fail, "no default StorageClass among standard", "kubectl patch storageclass standard")
		_, err := cs.StorageV1().StorageClasses().Patch(ctx, "standard", types.MergePatchType,
			[]byte(`{"metadata":{"annotations":{"storageclass.kubernetes.io/is-default-class":"true"}}}`), metav1.PatchOptions{})
		must(t, err)
		expect(t, check(t, cfg, "default-storageclass"), preflight.Pass, "standard (provisioner example.com/standard")
		mk("fast", true)
		expect(t, check(t, cfg, "default-storageclass"), preflight.Warn, "2 default StorageClasses", "fast", "standard")
	})

	t.Run("gpu-nodes", func(t *testing.T) {
		expect(t, check(t, cfg, "gpu-nodes"), preflight.Pass, "2 GPU nodes (2 by GFD label)", "16 of 16 GPUs free")
	})

	t.Run("gpu-operator pods", func(t *testing.T) {
		expect(t, check(t, cfg, "gpu-operator"), preflight.Fail, "no GPU Operator")
		must(t, createNS(ctx, cs, "gpu-operator"))
		// A pod no node can take stays Pending: none Running.
		pending := operatorPod("gpu-operator-pending", "")
		pending.Spec.NodeSelector = map[string]string{"no-such-label": "x"}
		_, err := cs.CoreV1().Pods("gpu-operator").Create(ctx, pending, metav1.CreateOptions{})
		must(t, err)
		expect(t, check(t, cfg, "gpu-operator"), preflight.Fail, "0/1 gpu-operator pods Running", "gpu-operator-pending")
		for i := range 2 {
			_, err := cs.CoreV1().Pods("gpu-operator").Create(ctx, operatorPod(fmt.Sprintf("gpu-operator-%d", i), "h100-0"), metav1.CreateOptions{})
			must(t, err)
		}
		waitRunning(t, cs, "gpu-operator", 2)
		expect(t, check(t, cfg, "gpu-operator"), preflight.Warn, "2/3 gpu-operator pods Running")
		must(t, cs.CoreV1().Pods("gpu-operator").Delete(ctx, "gpu-operator-pending", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}))
		must(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			r := check(t, cfg, "gpu-operator")
			return r.Status == preflight.Pass && strings.Contains(r.Detail, "2/2"), nil
		}))
	})

	t.Run("gpu-operator ClusterPolicy", func(t *testing.T) {
		devclustertest.InstallCRDs(t, cfg, filepath.Join("testdata", "crds", "clusterpolicies.yaml"))
		dyn := dynamic.NewForConfigOrDie(cfg)
		res := dyn.Resource(schema.GroupVersionResource{Group: "nvidia.com", Version: "v1", Resource: "clusterpolicies"})
		cp := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy", "metadata": map[string]any{"name": "cluster-policy"}, "spec": map[string]any{}}}
		created, err := res.Create(ctx, cp, metav1.CreateOptions{})
		must(t, err)
		setState := func(state string) {
			_ = unstructured.SetNestedField(created.Object, state, "status", "state")
			created, err = res.UpdateStatus(ctx, created, metav1.UpdateOptions{})
			must(t, err)
		}
		setState("notReady")
		expect(t, check(t, cfg, "gpu-operator"), preflight.Fail, "ClusterPolicy not ready (cluster-policy: notReady)")
		setState("ready")
		expect(t, check(t, cfg, "gpu-operator"), preflight.Pass, "ClusterPolicy cluster-policy ready")
	})

	t.Run("node-pressure", func(t *testing.T) {
		expect(t, check(t, cfg, "node-pressure"), preflight.Pass, "2 of 2 GPU nodes usable")
		cordon(t, cs, "h100-1", true)
		expect(t, check(t, cfg, "node-pressure"), preflight.Warn, "1 of 2 GPU nodes usable", "h100-1 cordoned")
		cordon(t, cs, "h100-0", true)
		expect(t, check(t, cfg, "node-pressure"), preflight.Fail, "0 of 2 GPU nodes usable")
		cordon(t, cs, "h100-0", false)
		cordon(t, cs, "h100-1", false)
		// Conditions as a kubelet reports them. kwok's heartbeat rewrites them only every 10–20
		// minutes, so a patched pressure condition stays for the test; Ready=False does not (kwok's
		// node-initialize stage makes the node Ready again at once), so NotReady is left to the
		// NodeProblems unit test.
		condition(t, cs, "h100-0", corev1.NodeMemoryPressure, corev1.ConditionTrue)
		condition(t, cs, "h100-0", corev1.NodePIDPressure, corev1.ConditionTrue)
		expect(t, check(t, cfg, "node-pressure"), preflight.Warn, "1 of 2 GPU nodes usable", "h100-0 MemoryPressure+PIDPressure")
		condition(t, cs, "h100-1", corev1.NodeDiskPressure, corev1.ConditionTrue)
		condition(t, cs, "h100-1", corev1.NodeNetworkUnavailable, corev1.ConditionTrue)
		expect(t, check(t, cfg, "node-pressure"), preflight.Fail, "0 of 2 GPU nodes usable", "h100-1 DiskPressure+NetworkUnavailable")
		for _, c := range []struct {
			node string
			typ  corev1.NodeConditionType
			to   corev1.ConditionStatus
		}{{"h100-0", corev1.NodeMemoryPressure, corev1.ConditionFalse}, {"h100-0", corev1.NodePIDPressure, corev1.ConditionFalse},
			{"h100-1", corev1.NodeDiskPressure, corev1.ConditionFalse}, {"h100-1", corev1.NodeNetworkUnavailable, corev1.ConditionFalse}} {
			condition(t, cs, c.node, c.typ, c.to)
		}
		expect(t, check(t, cfg, "node-pressure"), preflight.Pass, "2 of 2 GPU nodes usable")
	})

	t.Run("rdma", func(t *testing.T) {
		expect(t, check(t, cfg, "rdma"), preflight.Warn, "none of 2 GPU nodes advertises RDMA")
		label(t, cs, "h100-0", "nvidia.com/rdma.present", "true")
		expect(t, check(t, cfg, "rdma"), preflight.Warn, "1 of 2 GPU nodes advertise RDMA")
		label(t, cs, "h100-1", "nvidia.com/rdma.present", "true")
		expect(t, check(t, cfg, "rdma"), preflight.Pass, "2 of 2 GPU nodes advertise RDMA (label nvidia.com/rdma.present)")
	})

	t.Run("prometheus-operator", func(t *testing.T) {
		expect(t, check(t, cfg, "prometheus-operator"), preflight.Warn, "servicemonitors.monitoring.coreos.com", "podmonitors.monitoring.coreos.com")
		devclustertest.InstallCRDs(t, cfg, filepath.Join("testdata", "crds", "monitoring.yaml"))
		expect(t, check(t, cfg, "prometheus-operator"), preflight.Pass, "ServiceMonitor and PodMonitor CRDs installed")
	})

	t.Run("dynamo-crds", func(t *testing.T) {
		expect(t, check(t, cfg, "dynamo-crds"), preflight.Fail, "dynamographdeployments.nvidia.com is not installed", "kubectl apply --server-side")
		want, err := preflight.ExpectedCRD()
		must(t, err)
		// An older CRD: one field's description differs.
		old := want.DeepCopy()
		old.Spec.Versions[0].Schema.OpenAPIV3Schema.Description = "an older schema"
		ext := apiextensionsclient.NewForConfigOrDie(cfg)
		_, err = ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, old, metav1.CreateOptions{})
		must(t, err)
		must(t, devcluster.WaitEstablished(ctx, ext, want.Name))
		expect(t, check(t, cfg, "dynamo-crds"), preflight.Warn, "v1alpha1 schema differs")
		got, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, want.Name, metav1.GetOptions{})
		must(t, err)
		got.Spec = want.Spec
		_, err = ext.ApiextensionsV1().CustomResourceDefinitions().Update(ctx, got, metav1.UpdateOptions{})
		must(t, err)
		// The schema matches, but no operator has written the conversion webhook's CA.
		expect(t, check(t, cfg, "dynamo-crds"), preflight.Fail, "its conversion webhook has no CA yet", "install or start the operator")
		must(t, devcluster.ServeConversion(ctx, cfg))
		expect(t, check(t, cfg, "dynamo-crds"), preflight.Pass, "versions match")
	})

	t.Run("rbac", func(t *testing.T) {
		expect(t, check(t, cfg, "rbac"), preflight.Pass, "permissions held (namespace default)")
		alice := rest.CopyConfig(cfg)
		alice.Impersonate = rest.ImpersonationConfig{UserName: "alice"}
		expect(t, check(t, alice, "rbac"), preflight.Fail, "deploy graphs: get dynamographdeployments.nvidia.com", "install the operator:")
		// Graphs allowed in default, nothing else: the required part passes, the rest warns.
		_, err := cs.RbacV1().Roles("default").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "dgd-editor"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"nvidia.com"}, Resources: []string{"dynamographdeployments"}, Verbs: []string{"*"}}}}, metav1.CreateOptions{})
		must(t, err)
		_, err = cs.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice-dgd"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "dgd-editor"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice", APIGroup: "rbac.authorization.k8s.io"}}}, metav1.CreateOptions{})
		must(t, err)
		must(t, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			return check(t, alice, "rbac").Status == preflight.Warn, nil
		}))
		r := check(t, alice, "rbac")
		expect(t, r, preflight.Warn, "pvc tooling: get persistentvolumeclaims", "inventory: list nodes")
		if strings.Contains(r.Detail, "deploy graphs") {
			t.Errorf("graph permissions granted but still reported missing: %s", r.Detail)
		}
	})

	t.Run("dgd-fits", func(t *testing.T) {
		ref, err := reference.DGDExample()
		if err != nil {
			t.Skip(err)
		}
		graphs, err := render.DecodeGraphs(strings.NewReader(string(ref)), "dgd.yaml", "default")
		must(t, err)
		withGraphs := func(g []*v1alpha1.DynamoGraphDeployment) func(*preflight.Env) {
			return func(e *preflight.Env) { e.Graphs, e.Namespace = graph.ResolveAll(g, graph.Options{}), "default" }
		}
		// Two 8-GPU nodes, two gpu-operator pods on one of them take no GPUs.
		expect(t, check(t, cfg, "dgd-fits", withGraphs(graphs)), preflight.Pass, "fits", "VllmDecodeWorker 1 pod(s) × 1 nvidia.com/gpu", "2 of 16 free GPUs used")
		big := graphs[0].DeepCopy()
		prefill := big.Spec.Services["VllmPrefillWorker"]
		prefill.Replicas = new(int32(3))
		prefill.Resources.Limits.GPU = "8"
		expect(t, check(t, cfg, "dgd-fits", withGraphs([]*v1alpha1.DynamoGraphDeployment{big})), preflight.Fail,
			"VllmPrefillWorker does not fit: needs 3 pod(s) × 8 nvidia.com/gpu, 2 placed, short 8 nvidia.com/gpu", "2 candidate node(s)",
			"(no placement exists (more pods than the nodes could hold, or searched every distinct placement))")

		// A multi-node replica is nodeCount pods of the per-node limit, each on its own node:
		// 2 × 8 takes both nodes; a second replica, or a third node per replica, does not fit.
		multi := graphs[0].DeepCopy()
		delete(multi.Spec.Services, "VllmPrefillWorker")
		decode := multi.Spec.Services["VllmDecodeWorker"]
		decode.Multinode = &v1alpha1.MultinodeSpec{NodeCount: 2}
		decode.Resources.Limits.GPU = "8"
		expect(t, check(t, cfg, "dgd-fits", withGraphs([]*v1alpha1.DynamoGraphDeployment{multi})), preflight.Pass,
			"VllmDecodeWorker 1 replica(s) × 2 nodes × 8 nvidia.com/gpu on 2 node(s)", "16 of 16 free GPUs used")
		decode.Replicas = new(int32(2))
		expect(t, check(t, cfg, "dgd-fits", withGraphs([]*v1alpha1.DynamoGraphDeployment{multi})), preflight.Fail,
			"VllmDecodeWorker does not fit: 2 nodes × 8 nvidia.com/gpu needed per replica, 1 of 2 replica(s) placed; 0 of its 2 candidate node(s) have room for one pod")
		decode.Replicas, decode.Multinode.NodeCount = nil, 3
		expect(t, check(t, cfg, "dgd-fits", withGraphs([]*v1alpha1.DynamoGraphDeployment{multi})), preflight.Fail,
			"VllmDecodeWorker does not fit: 3 nodes × 8 nvidia.com/gpu needed per replica, 0 of 1 replica(s) placed; 2 of its 2 candidate node(s) have room for one pod")
	})
}

// A cluster without the GPU Operator whose GPU nodes advertise GPUs but carry no GFD label.
func TestChecksOnManagedGPUNodes(t *testing.T) {
	c := devclustertest.Start(t, "cpu=1")
	cfg, cs := c.RESTConfig(), c.Client()
	ctx := ctxT(t)
	expect(t, check(t, cfg, "gpu-nodes"), preflight.Fail, "no GPU node among 1 nodes")
	expect(t, check(t, cfg, "gpu-operator"), preflight.Fail, "no GPU Operator")
	expect(t, check(t, cfg, "node-pressure"), preflight.Skip, "no GPU nodes")

	kind, _ := simnode.LookupNodeKind("h100")
	n := simnode.NewNode(kind, "bare-gpu", "dev-zone-a")
	for k := range n.Labels {
		if strings.HasPrefix(k, "nvidia.com/") {
			delete(n.Labels, k)
		}
	}
	_, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	must(t, err)
	must(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return check(t, cfg, "gpu-nodes").Status == preflight.Pass, nil
	}))
	expect(t, check(t, cfg, "gpu-nodes"), preflight.Pass, "1 GPU nodes (0 by GFD label, 1 by allocatable nvidia.com/gpu only)")
	expect(t, check(t, cfg, "gpu-operator"), preflight.Skip, "a device plugin without GPU Feature Discovery on 1 node(s)")

	aks, _ := simnode.LookupNodeKind("aks-a100")
	_, err = cs.CoreV1().Nodes().Create(ctx, simnode.NewNode(aks, "aks-gpu", "dev-zone-a"), metav1.CreateOptions{})
	must(t, err)
	expect(t, check(t, cfg, "gpu-operator"), preflight.Skip, "AKS (managed GPU node pools) on 1 node(s)")
}

// An API server that is not there: exit 3 and every cluster check skipped, within the timeout.
func TestUnreachable(t *testing.T) {
	cases := map[string]string{
		"closed port": "https://127.0.0.1:1",
		// TEST-NET-1 (RFC 5737): never routed, so the connection hangs until the timeout.
		"black hole": "https://192.0.2.1:6443",
	}
	for name, host := range cases {
		t.Run(name, func(t *testing.T) {
			env, err := preflight.NewEnv(&rest.Config{Host: host, Timeout: 30 * time.Second})
			must(t, err)
			env.Profile = preflight.ProfileBaseline
			checks, err := preflight.Select(preflight.Selection{Profile: preflight.ProfileBaseline})
			must(t, err)
			start := time.Now()
			rep := preflight.Run(context.Background(), env, checks, preflight.RunOptions{CheckTimeout: time.Second})
			if el := time.Since(start); el > 10*time.Second {
				t.Errorf("took %s with a 1s check timeout", el)
			}
			if !rep.Unreachable || rep.Verdict(false) != preflight.VerdictUnreachable {
				t.Fatalf("unreachable=%v verdict=%s, want true, unreachable", rep.Unreachable, rep.Verdict(false))
			}
			for _, r := range rep.Checks {
				want := preflight.Skip
				if r.ID == "api-connectivity" {
					want = preflight.Fail
				}
				if r.Status != want {
					t.Errorf("%s: %s (%s), want %s", r.ID, r.Status, r.Detail, want)
				}
			}
		})
	}
}

func operatorPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "gpu-operator"}},
		Spec: corev1.PodSpec{NodeName: node, Tolerations: []corev1.Toleration{simnode.KwokToleration()},
			Containers: []corev1.Container{{Name: "operator", Image: "nvcr.io/nvidia/gpu-operator:v25.3.0"}}},
	}
}

func createNS(ctx context.Context, cs kubernetes.Interface, name string) error {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	return err
}

func waitRunning(t *testing.T, cs kubernetes.Interface, ns string, n int) {
	t.Helper()
	testkit.Eventually(t, fmt.Sprintf("%d pods running in %s", n, ns), 30*time.Second, func(ctx context.Context) (bool, error) {
		l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Running"})
		return err == nil && len(l.Items) >= n, err
	})
}

func cordon(t *testing.T, cs kubernetes.Interface, node string, on bool) {
	t.Helper()
	_, err := cs.CoreV1().Nodes().Patch(ctxT(t), node, types.MergePatchType, fmt.Appendf(nil, `{"spec":{"unschedulable":%v}}`, on), metav1.PatchOptions{})
	must(t, err)
}

// condition sets one condition of a node's status (a strategic merge keyed by type).
func condition(t *testing.T, cs kubernetes.Interface, node string, typ corev1.NodeConditionType, status corev1.ConditionStatus) {
	t.Helper()
	patch, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []map[string]any{{
		"type": typ, "status": status, "reason": "PreflightTest", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}}})
	_, err := cs.CoreV1().Nodes().Patch(ctxT(t), node, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	must(t, err)
}

func label(t *testing.T, cs kubernetes.Interface, node, key, value string) {
	t.Helper()
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{key: value}}})
	_, err := cs.CoreV1().Nodes().Patch(ctxT(t), node, types.MergePatchType, patch, metav1.PatchOptions{})
	must(t, err)
}
