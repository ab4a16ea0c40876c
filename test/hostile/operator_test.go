package hostile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/controller"
	"github.com/dynamo-infra/dynamo-infra/internal/controller/controllertest"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/test/clitest"
)

// graph is a one-service graph (a CPU Frontend) named name in ns, or with the given services.
func graphOf(ns, name string, services ...string) *v1alpha1.DynamoGraphDeployment {
	if len(services) == 0 {
		services = []string{"Frontend"}
	}
	g := testkit.Graph(ns, name)
	for _, s := range services {
		g.Service(s, testkit.Service(v1alpha1.ComponentFrontend).Image(""))
	}
	return g.Obj()
}

func readyOf(t *testing.T, ctx context.Context, cl client.Client, ns, name string) (*metav1.Condition, error) {
	g := &v1alpha1.DynamoGraphDeployment{}
	if err := cl.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, g); err != nil {
		return nil, err
	}
	c := meta.FindStatusCondition(g.Status.Conditions, controller.ConditionReady)
	if c == nil {
		return nil, fmt.Errorf("no Ready condition yet")
	}
	return c, nil
}

func waitReason(t *testing.T, cl client.Client, ns, name, reason, contains string) {
	t.Helper()
	testkit.Eventually(t, name+" "+reason, 90*time.Second, func(ctx context.Context) (bool, error) {
		c, err := readyOf(t, ctx, cl, ns, name)
		if err != nil {
			return false, err
		}
		return c.Reason == reason && strings.Contains(c.Message, contains), fmt.Errorf("Ready %s %s: %s", c.Status, c.Reason, c.Message)
	})
}

func TestOperatorHostile(t *testing.T) {
	c, cl := controllertest.Setup(t, "cpu=2")
	cs := c.Client()
	ctx := t.Context()
	const ns = "default"

	t.Run("a user's Service is not adopted", func(t *testing.T) {
		mine := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "adopt-frontend", Namespace: ns, Labels: map[string]string{"team": "web"}},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
		must(t, cl.Create(ctx, mine))
		g := graphOf(ns, "adopt")
		must(t, cl.Create(ctx, g))
		waitReason(t, cl, ns, "adopt", controller.ReasonResourceConflict, "Service adopt-frontend already exists")
		got := &corev1.Service{}
		must(t, cl.Get(ctx, client.ObjectKeyFromObject(mine), got))
		if len(got.OwnerReferences) != 0 || len(got.Spec.Selector) != 1 || got.Spec.Selector["app"] != "web" || len(got.Spec.Ports) != 1 {
			t.Errorf("the user's Service was changed: owners %v selector %v ports %v", got.OwnerReferences, got.Spec.Selector, got.Spec.Ports)
		}
		// Deleting the graph leaves it.
		must(t, cl.Delete(ctx, g, client.PropagationPolicy(metav1.DeletePropagationForeground)))
		testkit.Eventually(t, "graph gone", time.Minute, func(ctx context.Context) (bool, error) {
			err := cl.Get(ctx, client.ObjectKeyFromObject(g), &v1alpha1.DynamoGraphDeployment{})
			return apierrors.IsNotFound(err), err
		})
		time.Sleep(2 * time.Second) // the garbage collector's turn
		if err := cl.Get(ctx, client.ObjectKeyFromObject(mine), &corev1.Service{}); err != nil {
			t.Errorf("the user's Service went with the graph: %v", err)
		}
	})

	t.Run("hand-made changes to a child are reverted", func(t *testing.T) {
		must(t, cl.Create(ctx, graphOf(ns, "edit")))
		key := types.NamespacedName{Namespace: ns, Name: "edit-frontend"}
		testkit.Eventually(t, "edit-frontend created", time.Minute, func(ctx context.Context) (bool, error) {
			err := cl.Get(ctx, key, &appsv1.Deployment{})
			return err == nil, err
		})
		// As kubectl edit would: an env var, a sidecar, the host's network.
		testkit.Eventually(t, "edit applied", 30*time.Second, func(ctx context.Context) (bool, error) {
			d := &appsv1.Deployment{}
			if err := cl.Get(ctx, key, d); err != nil {
				return false, err
			}
			pod := &d.Spec.Template.Spec
			pod.Containers[0].Env = append(pod.Containers[0].Env, corev1.EnvVar{Name: "INJECTED", Value: "1"})
			pod.Containers = append(pod.Containers, corev1.Container{Name: "sidecar", Image: "attacker.example/sidecar:1"})
			pod.HostNetwork = true
			err := cl.Update(ctx, d, client.FieldOwner("kubectl-edit"))
			return err == nil, err
		})
		testkit.Eventually(t, "edit reverted", time.Minute, func(ctx context.Context) (bool, error) {
			d := &appsv1.Deployment{}
			if err := cl.Get(ctx, key, d); err != nil {
				return false, err
			}
			pod := d.Spec.Template.Spec
			for _, e := range pod.Containers[0].Env {
				if e.Name == "INJECTED" {
					return false, fmt.Errorf("env INJECTED still there")
				}
			}
			return len(pod.Containers) == 1 && !pod.HostNetwork, fmt.Errorf("%d containers, hostNetwork %v", len(pod.Containers), pod.HostNetwork)
		})
	})

	t.Run("two graphs that name the same child do not fight", func(t *testing.T) {
		first := graphOf(ns, "a-b", "c")
		must(t, cl.Create(ctx, first))
		testkit.Eventually(t, "a-b-c created", time.Minute, func(ctx context.Context) (bool, error) {
			err := cl.Get(ctx, types.NamespacedName{Namespace: ns, Name: "a-b-c"}, &appsv1.Deployment{})
			return err == nil, err
		})
		must(t, cl.Create(ctx, graphOf(ns, "a", "b-c")))
		waitReason(t, cl, ns, "a", controller.ReasonResourceConflict, "DynamoGraphDeployment a-b")
		before := &appsv1.Deployment{}
		must(t, cl.Get(ctx, types.NamespacedName{Namespace: ns, Name: "a-b-c"}, before))
		time.Sleep(3 * time.Second)
		after := &appsv1.Deployment{}
		must(t, cl.Get(ctx, types.NamespacedName{Namespace: ns, Name: "a-b-c"}, after))
		if after.Generation != before.Generation || metav1.GetControllerOf(after).UID != first.UID {
			t.Errorf("a-b-c changed: generation %d → %d, owner %v", before.Generation, after.Generation, metav1.GetControllerOf(after))
		}
	})

	t.Run("service names that differ only by case are refused", func(t *testing.T) {
		err := cl.Create(ctx, graphOf(ns, "cased", "Frontend", "FRONTEND"))
		if err == nil || !strings.Contains(err.Error(), "differ in more than case") {
			t.Errorf("create: %v, want refused naming the case clash", err)
		}
		cased, _ := graph.Resolve(graphOf(ns, "cased", "Frontend", "FRONTEND"), graph.Options{})
		if _, err := render.Graph(cased, render.Config{}); err == nil || !strings.Contains(err.Error(), "FRONTEND") {
			t.Errorf("render: %v, want refused", err)
		}
	})

	t.Run("a bundle leaks no credential", func(t *testing.T) {
		g := graphOf(ns, "creds")
		mc := g.Spec.Services["Frontend"].ExtraPodSpec.MainContainer
		mc.Env = []corev1.EnvVar{{Name: "PGPASSWORD", Value: "pg-planted-1"}, {Name: "dbpass", Value: "db-planted-2"},
			{Name: "DATABASE_URL", Value: "https://user:hunter2@db.example/x"}, {Name: "MODEL", Value: "kept-model"}}
		mc.Command = []string{"/bin/sh", "-c", "export MY_SECRET=sh-planted-3 && python3 -m dynamo.frontend --password pw-planted-4"}
		mc.Args = []string{"--api-key", "sk-planted-5", "--hf-token=hf-planted-6"}
		must(t, cl.Create(ctx, g))
		waitReason(t, cl, ns, "creds", controller.ReasonAllResourcesReady, "")
		dir := filepath.Join(t.TempDir(), "bundle")
		r := clitest.Run(t, dynamoctl, time.Minute, []string{"KUBECONFIG=" + c.KubeconfigPath()}, "explain", "dgd/creds", "-n", ns, "--bundle", dir)
		if r.Code != 0 {
			t.Fatalf("explain --bundle: exit %d\n%s", r.Code, r.Stderr)
		}
		files, err := os.ReadDir(dir)
		must(t, err)
		kept := false
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(dir, f.Name()))
			must(t, err)
			for _, secret := range []string{"pg-planted-1", "db-planted-2", "hunter2", "sh-planted-3", "pw-planted-4", "sk-planted-5", "hf-planted-6"} {
				if strings.Contains(string(b), secret) {
					t.Errorf("%s holds %s", f.Name(), secret)
				}
			}
			kept = kept || strings.Contains(string(b), "kept-model")
		}
		if len(files) < 5 || !kept {
			t.Errorf("bundle of %d files, other values kept: %v", len(files), kept)
		}
	})

	t.Run("explain with partial RBAC still explains", func(t *testing.T) {
		// A viewer who may read graphs, Deployments, pods and events but not ReplicaSets.
		_, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "partial-viewer"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"nvidia.com", "apps", ""}, Resources: []string{"dynamographdeployments", "deployments", "pods", "events"},
				Verbs: []string{"get", "list"}}}}, metav1.CreateOptions{})
		must(t, err)
		_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "partial-viewer"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "partial-viewer"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "viewer"}}}, metav1.CreateOptions{})
		must(t, err)
		must(t, cl.Create(ctx, graphOf(ns, "partial")))
		waitReason(t, cl, ns, "partial", controller.ReasonAllResourcesReady, "")
		r := clitest.Run(t, dynamoctl, time.Minute, []string{"KUBECONFIG=" + c.KubeconfigPath()}, "explain", "dgd/partial", "-n", ns, "--as", "viewer")
		if r.Code != 0 || !strings.Contains(r.Stdout, "partial") || !strings.Contains(r.Stdout, "replicasets not read") {
			t.Errorf("explain as a viewer without replicasets: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
	})

	t.Run("a restricted namespace says why no pod starts", func(t *testing.T) {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "locked",
			Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}, metav1.CreateOptions{})
		must(t, err)
		must(t, cl.Create(ctx, graphOf("locked", "sec")))
		waitReason(t, cl, "locked", "sec", controller.ReasonResourcesNotReady, "PodSecurity")
	})
}

// The operator's generated rules let it create the discovery Role and binding a graph needs,
// and nothing that would let its account grant itself more: no "*" Role in kube-system, no
// binding to cluster-admin, no Secrets.
func TestOperatorRBACIsNotAnEscalationPath(t *testing.T) {
	c, _ := controllertest.Setup(t, "cpu=1")
	ctx := t.Context()
	admin := c.Client()
	raw, err := os.ReadFile(testkit.RepoRoot() + "/config/rbac/role.yaml")
	must(t, err)
	role := &rbacv1.ClusterRole{}
	must(t, yaml.UnmarshalStrict(raw, role))
	for _, r := range role.Rules {
		for _, v := range r.Verbs {
			if v == "*" || v == "bind" || v == "escalate" || v == "impersonate" {
				t.Errorf("rule %v has verb %s", r.Resources, v)
			}
		}
		for _, res := range r.Resources {
			if res == "*" || res == "secrets" {
				t.Errorf("rule on %s", res)
			}
		}
	}
	role.Name = "dynamo-operator"
	_, err = admin.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{})
	must(t, err)
	_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "dynamo-operator"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "dynamo-operator"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "dynamo-system", Name: "dynamo-operator"}}}, metav1.CreateOptions{})
	must(t, err)
	cfg := rest.CopyConfig(c.RESTConfig())
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:dynamo-system:dynamo-operator",
		Groups: []string{"system:serviceaccounts", "system:authenticated"}}
	op, err := kubernetes.NewForConfig(cfg)
	must(t, err)

	forbidden := func(what string, err error) {
		t.Helper()
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s as the operator: %v, want Forbidden", what, err)
		}
	}
	_, err = op.RbacV1().Roles("kube-system").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "all"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}}, metav1.CreateOptions{})
	forbidden("a * Role in kube-system", err)
	_, err = op.RbacV1().RoleBindings("kube-system").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "admin"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "dynamo-system", Name: "dynamo-operator"}}}, metav1.CreateOptions{})
	forbidden("a binding to cluster-admin", err)
	_, err = op.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
	forbidden("listing Secrets", err)

	// What a graph needs still works.
	d := graphOf("default", "rbac")
	d.UID = "1"
	g, _ := graph.Resolve(d, graph.Options{})
	sa, r, rb := render.DiscoveryRBAC(g)
	for _, o := range []metav1.Object{sa, r, rb} {
		o.SetOwnerReferences(nil)
	}
	_, err = op.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{})
	must(t, err)
	if _, err = op.RbacV1().Roles("default").Create(ctx, r, metav1.CreateOptions{}); err != nil {
		t.Errorf("the discovery Role as the operator: %v", err)
	}
	if _, err = op.RbacV1().RoleBindings("default").Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Errorf("the discovery RoleBinding as the operator: %v", err)
	}
}
