package hostile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
	"github.com/dynamo-infra/dynamo-infra/internal/controller"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
)

// The operator as a deputy: with the graph-author policy (config/admission, the chart's
// default), a user who may create graphs but not pods gets no pod through a graph — the route
// to privileged pods, host namespaces and another account's token that Pod Security leaves
// open — while a pod creator (the edit role) is admitted, ServiceAccounts included; one who
// may create pods but not use an account may not name it; metadata-only edits stay open.
func TestGraphAuthorPolicy(t *testing.T) {
	c := devclustertest.Start(t, "cpu=1")
	admin := c.Client()
	ctx := t.Context()
	devclustertest.InstallCRDs(t, c.RESTConfig(), testkit.CRDPath())
	const ns = "team"
	_, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	must(t, err)
	_, err = admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "deployer"}}, metav1.CreateOptions{})
	must(t, err)
	role := func(name string, rules ...rbacv1.PolicyRule) {
		_, err := admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{})
		must(t, err)
	}
	bind := func(user, kind, name string) {
		_, err := admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{GenerateName: user + "-"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: name},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}, metav1.CreateOptions{})
		must(t, err)
	}
	role("graphs", rbacv1.PolicyRule{APIGroups: []string{"nvidia.com"}, Resources: []string{"dynamographdeployments"},
		Verbs: []string{"get", "list", "create", "update", "patch"}})
	role("pods", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}})
	bind("alice", "Role", "graphs")
	bind("bob", "Role", "graphs")
	bind("bob", "ClusterRole", "edit")
	bind("carol", "Role", "graphs")
	bind("carol", "Role", "pods")
	as := func(user string) client.Client {
		cfg := rest.CopyConfig(c.RESTConfig())
		cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
		cl, err := client.New(cfg, client.Options{Scheme: controller.Scheme()})
		must(t, err)
		return cl
	}
	withAccount := func(g *v1alpha1.DynamoGraphDeployment, sa string) *v1alpha1.DynamoGraphDeployment {
		eps := g.Spec.Services["Frontend"].ExtraPodSpec
		if eps.PodSpec == nil {
			eps.PodSpec = &corev1.PodSpec{}
		}
		eps.ServiceAccountName = sa
		return g
	}
	forbidden := func(what string, err error, says string) {
		t.Helper()
		if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), says) {
			t.Errorf("%s: %v, want refused saying %q", what, err, says)
		}
	}
	allowed := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v, want admitted", what, err)
		}
	}
	// The route: alice may not create a pod, yet a graph of hers is admitted — and the operator
	// would make its pods (e90b405, which had no policy).
	pod := func() *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	}
	must(t, as("bob").Create(ctx, pod(), client.DryRunAll))
	err = as("alice").Create(ctx, pod(), client.DryRunAll)
	if !apierrors.IsForbidden(err) {
		t.Fatalf("alice creates a pod: %v, want Forbidden (the case is wrong)", err)
	}
	allowed("alice's graph without the policy (the deputy route)", as("alice").Create(ctx, graphOf(ns, "alice"), client.DryRunAll))

	installGraphAuthorPolicy(t, c.RESTConfig())
	// The policy takes a moment to be loaded by the API server: alice's first refusal waits.
	testkit.Eventually(t, "alice refused", 30*time.Second, func(ctx context.Context) (bool, error) {
		err := as("alice").Create(ctx, graphOf(ns, "alice"), client.DryRunAll)
		return err != nil, err
	})
	forbidden("alice (graphs, no pods)", as("alice").Create(ctx, graphOf(ns, "alice")), "alice may not create pods in namespace team")
	forbidden("alice as deployer", as("alice").Create(ctx, withAccount(graphOf(ns, "alice-sa"), "deployer")), "may not")
	allowed("bob (edit)", as("bob").Create(ctx, graphOf(ns, "bob")))
	allowed("bob (edit) as deployer", as("bob").Create(ctx, withAccount(graphOf(ns, "bob-sa"), "deployer")))
	allowed("carol (pods, no impersonate)", as("carol").Create(ctx, graphOf(ns, "carol")))
	forbidden("carol as deployer", as("carol").Create(ctx, withAccount(graphOf(ns, "carol-sa"), "deployer")), "carol may not use ServiceAccount deployer")
	// The same graphs written as v1beta1 (the account in a component's podTemplate) meet the
	// same rules: the API server converts them to the form the policy reads.
	asBeta := func(g *v1alpha1.DynamoGraphDeployment) *v1beta1.DynamoGraphDeployment {
		b := &v1beta1.DynamoGraphDeployment{}
		must(t, g.ConvertTo(b))
		b.Name += "-beta"
		return b
	}
	forbidden("alice (graphs, no pods) in v1beta1", as("alice").Create(ctx, asBeta(graphOf(ns, "alice"))), "alice may not create pods in namespace team")
	forbidden("carol as deployer in v1beta1", as("carol").Create(ctx, asBeta(withAccount(graphOf(ns, "carol-sa"), "deployer"))), "carol may not use ServiceAccount deployer")
	allowed("bob (edit) as deployer in v1beta1", as("bob").Create(ctx, asBeta(withAccount(graphOf(ns, "bob-sa"), "deployer"))))

	// On a graph made by someone else: alice may label it (no pod changes), not change what
	// its pods are.
	g := &v1alpha1.DynamoGraphDeployment{}
	must(t, as("alice").Get(ctx, client.ObjectKey{Namespace: ns, Name: "bob"}, g))
	g.Labels = map[string]string{"team": "a"}
	allowed("alice labels bob's graph", as("alice").Update(ctx, g))
	must(t, as("alice").Get(ctx, client.ObjectKey{Namespace: ns, Name: "bob"}, g))
	g.Spec.Services["Frontend"].ExtraPodSpec.MainContainer.Image = "attacker.example/frontend:1"
	forbidden("alice changes bob's graph's image", as("alice").Update(ctx, g), "alice may not create pods")
	withAccount(g, "deployer")
	forbidden("alice gives bob's graph an account", as("alice").Update(ctx, g), "may not")
}

// installGraphAuthorPolicy applies config/admission's policy and binding as a cluster admin
// would with kubectl.
func installGraphAuthorPolicy(t *testing.T, cfg *rest.Config) {
	t.Helper()
	dir := filepath.Join(testkit.RepoRoot(), "config", "admission")
	read := func(name string, into any) {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		must(t, err)
		must(t, yaml.UnmarshalStrict(raw, into))
	}
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
	read("graph-author-policy.yaml", policy)
	read("graph-author-binding.yaml", binding)
	cl, err := client.New(cfg, client.Options{})
	must(t, err)
	must(t, cl.Create(t.Context(), policy))
	must(t, cl.Create(t.Context(), binding))
	// The API server type-checks the policy's expressions against the CRD: a mistake shows
	// in its status, not at create.
	testkit.Eventually(t, "the policy type-checked", 30*time.Second, func(ctx context.Context) (bool, error) {
		if err := cl.Get(ctx, client.ObjectKeyFromObject(policy), policy); err != nil {
			return false, err
		}
		if tc := policy.Status.TypeChecking; tc != nil {
			if len(tc.ExpressionWarnings) > 0 {
				t.Fatalf("the policy's expressions: %+v", tc.ExpressionWarnings)
			}
			return true, nil
		}
		return false, nil
	})
}
