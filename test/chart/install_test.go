package chart

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/testkit"
	"github.com/dynamo-infra/dynamo-infra/test/clitest"
)

var (
	graphs = schema.GroupVersionResource{Group: "nvidia.com", Version: "v1alpha1", Resource: "dynamographdeployments"}
	// stored: read without the conversion webhook (after the operator serving it stopped).
	storedGraphs = schema.GroupVersionResource{Group: "nvidia.com", Version: "v1beta1", Resource: "dynamographdeployments"}
	crdRes       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// The chart as a user runs it, with the real helm on the simulated cluster: install --wait
// (two replicas Ready, a PodDisruptionBudget that allows one disruption), the operator
// running as the installed ServiceAccount with secure metrics, an upgrade to a chart whose CRD
// changed (the CRD in the cluster follows), and an uninstall that leaves the CRDs, the graphs,
// their workloads and their claims in place.
func TestInstallUpgradeUninstall(t *testing.T) {
	c := devclustertest.Start(t, "h100=1,cpu=2")
	cfg := c.RESTConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cs := kubernetes.NewForConfigOrDie(cfg)
	dyn := dynamic.NewForConfigOrDie(cfg)
	kc := c.KubeconfigPath()
	const ns, sa = "dynamo-system", "dynamo-dynamo-operator"

	// kwok runs no container: the operator runs on this machine (below), so the API server
	// reaches its webhooks at a local URL (webhook.url) instead of the chart's Service.
	webhookPort := devclustertest.FreePort(t)
	webhookURL := fmt.Sprintf("https://127.0.0.1:%d", webhookPort)
	helm(t, "install", "dynamo", chartDir, "--kubeconfig", kc, "-n", ns, "--create-namespace", "--wait", "--timeout", "3m",
		"--set", "nats.address=nats://nats:4222", "--set", "webhook.url="+webhookURL)
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, sa, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.AvailableReplicas != 2 {
		t.Errorf("after install --wait: %d replicas available, want 2", d.Status.AvailableReplicas)
	}
	// The disruption controller computes the budget's status from the Ready pods.
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pdb, err := cs.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, sa, metav1.GetOptions{})
		return err == nil && pdb.Status.CurrentHealthy == 2 && pdb.Status.DisruptionsAllowed == 1, nil
	})
	if err != nil {
		pdb, _ := cs.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, sa, metav1.GetOptions{})
		t.Errorf("PodDisruptionBudget: want 2 healthy, 1 disruption allowed: %v %+v", err, pdb.Status)
	}

	// kwok runs no container, so the operator runs here, as the installed ServiceAccount, with
	// the chart's flags for metrics: only authorized callers read them.
	kubeconfig := asServiceAccount(t, c, ns, sa)
	port := devclustertest.FreePort(t)
	// Its webhooks as the chart configures them, with the chart's RBAC: the certificate in the
	// chart's Secret, the CA written into the CRD and the validating webhook.
	op := startOperator(t, kubeconfig, "--leader-elect", "--leader-election-namespace", ns, "--nats-address", "nats://nats:4222",
		"--metrics-secure", fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", port), "--health-probe-bind-address=0",
		fmt.Sprintf("--webhook-port=%d", webhookPort), "--webhook-url="+webhookURL, "--webhook-cert-secret="+ns+"/"+sa+"-webhook-cert",
		"--webhook-validating-config="+sa+"-dynamographdeployments")
	if err := devcluster.WaitConverting(ctx, cfg); err != nil {
		t.Fatalf("the operator's conversion webhook: %v\n%s", err, tail(op.Logs.String(), 30))
	}
	dgds := dyn.Resource(graphs).Namespace("default")
	stored := dyn.Resource(storedGraphs).Namespace("default")
	g := createGraph(ctx, t, dgds, filepath.Join(root, "deploy", "discovery", "dgd.yaml"), func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"name": "model-cache", "create": true, "size": "1Gi", "storageClass": "standard", "volumeAccessMode": "ReadWriteOnce"}}, "spec", "pvcs")
	})
	waitSuccessful(ctx, t, dgds, g.GetName(), op.Logs)
	checkMetricsAuth(ctx, t, cs, fmt.Sprintf("https://127.0.0.1:%d/metrics", port))
	// The webhook with the chart's RBAC: its certificate in the chart's Secret, the CA in the CRD.
	if sec, err := cs.CoreV1().Secrets(ns).Get(ctx, sa+"-webhook-cert", metav1.GetOptions{}); err != nil || len(sec.Data["tls.crt"]) == 0 {
		t.Errorf("the webhook's certificate Secret: %v", err)
	}
	if crd, err := dyn.Resource(crdRes).Get(ctx, "dynamographdeployments.nvidia.com", metav1.GetOptions{}); err != nil {
		t.Error(err)
	} else if ca, _, _ := unstructured.NestedString(crd.Object, "spec", "conversion", "webhook", "clientConfig", "caBundle"); ca == "" {
		t.Errorf("the operator did not write the CA into the CRD's conversion")
	}
	if strings.Contains(op.Logs.String(), "forbidden") {
		t.Errorf("the operator hit forbidden requests:\n%s", tail(op.Logs.String(), 30))
	}
	if !op.Stop(30 * time.Second) {
		t.Fatal("the operator ignored SIGINT")
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims("default").Get(ctx, "model-cache", metav1.GetOptions{}); err != nil {
		t.Fatalf("the graph's claim: %v", err)
	}

	// Upgrade to a chart whose CRD changed: a category added (any schema change travels the same way).
	v2 := filepath.Join(t.TempDir(), "dynamo-operator")
	if out, err := exec.Command("cp", "-r", filepath.Join(root, chartDir), v2).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	crdFile := filepath.Join(v2, "templates", "crds", "nvidia.com_dynamographdeployments.yaml")
	raw, err := os.ReadFile(crdFile)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(raw), "    categories:\n    - dynamo\n", "    categories:\n    - dynamo\n    - dynamo-v2\n", 1)
	if changed == string(raw) {
		t.Fatal("the CRD template has no categories list to change")
	}
	if err := os.WriteFile(crdFile, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	chartYAML := filepath.Join(v2, "Chart.yaml")
	meta, err := os.ReadFile(chartYAML)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(chartYAML, regexp.MustCompile(`(?m)^version: .*$`).ReplaceAll(meta, []byte("version: 99.0.0")), 0o644); err != nil {
		t.Fatal(err)
	}
	helm(t, "upgrade", "dynamo", v2, "--kubeconfig", kc, "-n", ns, "--wait", "--timeout", "3m", "--reuse-values")
	crd, err := dyn.Resource(crdRes).Get(ctx, "dynamographdeployments.nvidia.com", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cats, _, _ := unstructured.NestedStringSlice(crd.Object, "spec", "names", "categories"); !strings.Contains(strings.Join(cats, ","), "dynamo-v2") {
		t.Errorf("after helm upgrade the CRD's categories are %v, want dynamo-v2 added", cats)
	}
	if after, err := stored.Get(ctx, g.GetName(), metav1.GetOptions{}); err != nil || after.GetUID() != g.GetUID() {
		t.Errorf("the graph after the upgrade: %v (uid %v, was %v)", err, after, g.GetUID())
	}

	// The graph-author policy: a new install denies (auto), an upgrade keeps denying; turned
	// off and on again — as an upgrade from a chart without it — it only warns.
	policyActions := func() string {
		b, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Get(ctx, sa+"-graph-author", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		return fmt.Sprint(b.Spec.ValidationActions)
	}
	if got := policyActions(); got != "[Deny]" {
		t.Errorf("graph-author binding after install and upgrade: %s, want Deny", got)
	}
	helm(t, "upgrade", "dynamo", v2, "--kubeconfig", kc, "-n", ns, "--reuse-values", "--set", "graphAuthorPolicy.enabled=false")
	helm(t, "upgrade", "dynamo", v2, "--kubeconfig", kc, "-n", ns, "--reuse-values", "--set", "graphAuthorPolicy.enabled=true")
	if got := policyActions(); got != "[Warn Audit]" {
		t.Errorf("graph-author binding after an upgrade that adds it: %s, want Warn,Audit", got)
	}

	// Uninstall: the operator and its RBAC go; CRDs, graphs, their Deployments and claims stay.
	helm(t, "uninstall", "dynamo", "--kubeconfig", kc, "-n", ns, "--wait", "--timeout", "3m")
	if _, err := cs.AppsV1().Deployments(ns).Get(ctx, sa, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the operator's Deployment after uninstall: %v", err)
	}
	if _, err := cs.RbacV1().ClusterRoles().Get(ctx, sa, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the operator's ClusterRole after uninstall: %v", err)
	}
	for _, name := range []string{"dynamographdeployments.nvidia.com", "dynamoworkermetadatas.nvidia.com"} {
		if _, err := dyn.Resource(crdRes).Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("CRD %s after uninstall: %v", name, err)
		}
	}
	// Give a cascade (had the CRD gone) time to show before concluding nothing was deleted.
	time.Sleep(3 * time.Second)
	if after, err := stored.Get(ctx, g.GetName(), metav1.GetOptions{}); err != nil || after.GetUID() != g.GetUID() {
		t.Errorf("the graph after uninstall: %v", err)
	}
	// The decode worker's Deployment is named by its generation: found by its labels.
	if deps, err := cs.AppsV1().Deployments("default").List(ctx, metav1.ListOptions{LabelSelector: v1alpha1.LabelGraphDeploymentName + "=" + g.GetName() + "," + v1alpha1.LabelComponent + "=Decode"}); err != nil || len(deps.Items) != 1 {
		t.Errorf("the graph's decode Deployment after uninstall: %v", err)
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims("default").Get(ctx, "model-cache", metav1.GetOptions{}); err != nil {
		t.Errorf("the graph's claim after uninstall: %v", err)
	}
}

// checkMetricsAuth reads the secure endpoint without a token (401), with the token of an account
// that may not read metrics (403), and with one bound to the chart's metrics-reader role (200,
// the original's series and label sets).
func checkMetricsAuth(ctx context.Context, t *testing.T, cs kubernetes.Interface, url string) {
	t.Helper()
	token := func(name string, reader bool) string {
		if _, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if reader {
			crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
				RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "dynamo-dynamo-operator-metrics-reader"},
				Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: "default"}}}
			if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		tr, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the operator's self-signed certificate
	get := func(bearer string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get(""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: HTTP %d, want 401: %.200s", code, body)
	}
	if code, body := get(token("nobody", false)); code != http.StatusForbidden {
		t.Errorf("/metrics as an account without the reader role: HTTP %d, want 403: %.200s", code, body)
	}
	// The reader's binding may take a moment to reach the authorizer's cache.
	reader := token("prometheus", true)
	var code int
	var body string
	for i := 0; i < 20; i++ {
		if code, body = get(reader); code == http.StatusOK {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if code != http.StatusOK {
		t.Fatalf("/metrics as the reader: HTTP %d: %.300s", code, body)
	}
	for _, want := range []string{
		`dynamo_operator_reconcile_total{namespace="default",resource_type="DynamoGraphDeployment",result="success"}`,
		`dynamo_operator_reconcile_duration_seconds_bucket{namespace="default",resource_type="DynamoGraphDeployment",result="success",le="0.005"}`,
		`dynamo_operator_resources_total{namespace="default",resource_type="DynamoGraphDeployment",status="successful"} 1`,
		`dynamo_operator_managed_pods_total{component_type="frontend",namespace="default"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// asServiceAccount writes a kubeconfig that impersonates the ServiceAccount ns/name.
func asServiceAccount(t *testing.T, c *devcluster.Cluster, ns, name string) string {
	t.Helper()
	raw, err := clientcmd.LoadFromFile(c.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range raw.AuthInfos {
		ai.Impersonate = "system:serviceaccount:" + ns + ":" + name
		ai.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	}
	path := filepath.Join(t.TempDir(), "sa.kubeconfig")
	if err := clientcmd.WriteToFile(*raw, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// startOperator builds the operator and runs it until the test ends.
func startOperator(t *testing.T, kubeconfig string, args ...string) *clitest.Process {
	t.Helper()
	bin, err := clitest.BuildOperator(t.TempDir())
	if err != nil {
		t.Fatalf("build operator: %v", err)
	}
	return clitest.StartProcess(t, "operator", exec.Command(bin, append([]string{"--kubeconfig", kubeconfig}, args...)...))
}

// createGraph creates the graph in file (edited by each edit) and returns it as created.
func createGraph(ctx context.Context, t *testing.T, dgds dynamic.ResourceInterface, file string, edits ...func(*unstructured.Unstructured)) *unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetNamespace("default")
	for _, e := range edits {
		e(u)
	}
	created, err := dgds.Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return created
}

// waitSuccessful waits for the graph's state "successful" and fails with its status and the
// operator's log otherwise.
func waitSuccessful(ctx context.Context, t *testing.T, dgds dynamic.ResourceInterface, name string, logs *clitest.SyncBuffer) {
	t.Helper()
	defer func() {
		// Eventually failed the test: say what the graph and the operator said.
		if t.Failed() {
			g, _ := dgds.Get(ctx, name, metav1.GetOptions{})
			var status any
			if g != nil {
				status = g.Object["status"]
			}
			t.Logf("graph %s status: %v\noperator log:\n%s", name, status, tail(logs.String(), 30))
		}
	}()
	testkit.Eventually(t, "graph "+name+" successful", 2*time.Minute, func(ctx context.Context) (bool, error) {
		g, err := dgds.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		state, _, _ := unstructured.NestedString(g.Object, "status", "state")
		return state == "successful", nil
	})
}

// A team without cluster-admin: an administrator installed the CRDs; the team's release is
// namespaced (Role and RoleBinding only, --watch-namespace, plain metrics — secure metrics need
// a ClusterRole) and the operator, running as its account, brings a graph in that namespace to
// Ready without one forbidden request.
func TestNamespacedInstall(t *testing.T) {
	c := devclustertest.Start(t, "h100=1,cpu=1")
	cfg := c.RESTConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	devclustertest.InstallCRDs(t, cfg, testkit.CRDPath(),
		filepath.Join(root, "config", "crd", "bases", "nvidia.com_dynamoworkermetadatas.yaml"))
	const ns = "team-a"
	helm(t, "install", "team", chartDir, "--kubeconfig", c.KubeconfigPath(), "-n", ns, "--create-namespace", "--wait", "--timeout", "3m",
		"--set", "namespaced=true", "--set", "crds.install=false", "--set", "metrics.secure=false", "--set", "nats.address=nats://nats:4222")
	cs := kubernetes.NewForConfigOrDie(cfg)
	crs, err := cs.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=team"})
	if err != nil || len(crs.Items) != 0 {
		t.Errorf("a namespaced release created ClusterRoles: %v %v", err, crs)
	}
	// The operator runs with the flags the chart gives it (a namespaced release turns the
	// capacity view off: a Role cannot grant nodes), its listeners off here.
	dep, err := cs.AppsV1().Deployments(ns).Get(ctx, "team-dynamo-operator", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--leader-election-namespace", ns, "--metrics-bind-address=0", "--health-probe-bind-address=0"}
	for _, a := range dep.Spec.Template.Spec.Containers[0].Args {
		if !strings.HasPrefix(a, "--metrics-") && !strings.HasPrefix(a, "--health-probe-") {
			args = append(args, a)
		}
	}
	if !slices.Contains(args, "--capacity-refresh=0s") || !slices.Contains(args, "--watch-namespace="+ns) {
		t.Errorf("the namespaced release's operator flags: %v", args)
	}
	op := startOperator(t, asServiceAccount(t, c, ns, "team-dynamo-operator"), args...)
	dgds := dynamic.NewForConfigOrDie(cfg).Resource(graphs).Namespace(ns)
	g := createGraph(ctx, t, dgds, filepath.Join(root, "deploy", "discovery", "dgd.yaml"), func(u *unstructured.Unstructured) { u.SetNamespace(ns) })
	waitSuccessful(ctx, t, dgds, g.GetName(), op.Logs)
	if strings.Contains(op.Logs.String(), "forbidden") {
		t.Errorf("the namespaced operator hit forbidden requests:\n%s", tail(op.Logs.String(), 30))
	}
}
