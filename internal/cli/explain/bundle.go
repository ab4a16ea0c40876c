package explain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/explain"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
)

// Limits of the operator's log in a bundle: the newest lines of each container.
const (
	operatorLogLines = 2000
	operatorLogBytes = 4 << 20
)

// operatorSelector finds the operator's pods as the chart labels them.
const operatorSelector = "app.kubernetes.io/name=dynamo-operator"

// Redaction of credentials in a bundle (docs/explain.md): a name that holds one of these words,
// in any case and at any position (PGPASSWORD, dbpass, HF_TOKEN, APIKEY), names a credential.
var (
	credentialName = regexp.MustCompile(`(?i)(password|pass|pwd|secret|token|key|credential)`)
	// A URL's userinfo password: scheme://user:password@host.
	urlPassword = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):([^/\s@]+)@`)
	// A flag whose name looks like a credential, with its value: --api-key sk-…, --hf-token=….
	credentialFlag = regexp.MustCompile(`(?i)(--?[A-Za-z0-9_.-]*(?:token|key|password|secret)[A-Za-z0-9_.-]*)(=|\s+)([^\s'"]+)`)
	// NAME=value with a credential-looking NAME, as in a shell command or a log line.
	credentialAssign = regexp.MustCompile(`(?i)\b([A-Za-z_][A-Za-z0-9_]*(?:password|pass|pwd|secret|token|key|credential)[A-Za-z0-9_]*)=([^\s'"]+)`)
	// A flag alone (its value the next argument).
	credentialFlagAlone = regexp.MustCompile(`(?i)^--?[A-Za-z0-9_.-]*(?:token|key|password|secret)[A-Za-z0-9_.-]*$`)
)

// redacted is what a credential is replaced by.
const redacted = "REDACTED"

// redactText hides the credentials a free text may hold: URL passwords, the values of
// credential-looking flags and NAME=value assignments.
func redactText(s string) string {
	s = urlPassword.ReplaceAllString(s, "$1:"+redacted+"@")
	s = credentialFlag.ReplaceAllString(s, "${1}${2}"+redacted)
	return credentialAssign.ReplaceAllString(s, "${1}="+redacted)
}

// prepareBundle makes the bundle's directory before anything is read from the cluster (created:
// it did not exist): a new directory, or an empty one; never a file, a link or a directory that
// holds files (nothing is overwritten). Its errors are the user's disk's (exit 1).
func prepareBundle(dir string) (created bool, err error) {
	fi, err := os.Lstat(dir)
	switch {
	case err == nil && fi.Mode()&os.ModeSymlink != 0:
		return false, fmt.Errorf("%s is a symbolic link: give a new directory (nothing is written through links)", dir)
	case err == nil && !fi.IsDir():
		return false, fmt.Errorf("%s is a file: give a new directory (nothing is overwritten)", dir)
	case err == nil:
		entries, err := os.ReadDir(dir)
		if err != nil {
			return false, err
		}
		if len(entries) > 0 {
			return false, fmt.Errorf("%s is not empty: give a new directory (nothing is overwritten)", dir)
		}
		return false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return false, err
	}
	return true, os.MkdirAll(dir, 0o700)
}

// writeBundle writes the debug bundle into dir (prepareBundle made it): what the explanation
// read, plus the graph's Services, the operator's log and the GPU inventory. It makes only GET
// and LIST requests, never for Secrets, and returns how many files it wrote.
func writeBundle(ctx context.Context, c explain.Clients, dir string, in *explain.LiveRead, rep explain.Report) (int, error) {
	var notes []string
	g := in.Graph
	graphLabel := labels.SelectorFromSet(labels.Set{v1alpha1.LabelGraphDeploymentName: g.Name}).String()
	files := map[string]any{}

	raw := in.Raw.DeepCopy()
	raw.SetManagedFields(nil)
	files["graph.yaml"] = raw.Object
	files["explain.json"] = rep // Build already carries the reader's notes

	var workloads []any
	for _, d := range in.Deployments {
		d.APIVersion, d.Kind = "apps/v1", "Deployment"
		workloads = append(workloads, d)
	}
	for _, l := range in.LeaderWorkerSets {
		l.APIVersion, l.Kind = "leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"
		workloads = append(workloads, l)
	}
	for i := range in.ReplicaSets {
		in.ReplicaSets[i].APIVersion, in.ReplicaSets[i].Kind = "apps/v1", "ReplicaSet"
		workloads = append(workloads, &in.ReplicaSets[i])
	}
	files["workloads.yaml"] = list(workloads)
	var pods, events []any
	for i := range in.Pods {
		in.Pods[i].APIVersion, in.Pods[i].Kind = "v1", "Pod"
		pods = append(pods, &in.Pods[i])
	}
	files["pods.yaml"] = list(pods)
	for i := range in.Events {
		in.Events[i].APIVersion, in.Events[i].Kind = "v1", "Event"
		events = append(events, &in.Events[i])
	}
	files["events.yaml"] = list(events)

	if svcs, err := c.Kube.CoreV1().Services(g.Namespace).List(ctx, metav1.ListOptions{LabelSelector: graphLabel}); err != nil {
		notes = append(notes, "services.yaml: "+kube.OneLine(err))
	} else {
		var items []any
		for i := range svcs.Items {
			svcs.Items[i].APIVersion, svcs.Items[i].Kind = "v1", "Service"
			items = append(items, &svcs.Items[i])
		}
		files["services.yaml"] = list(items)
	}
	if inv, err := inventory.ListFromAPI(ctx, c.Kube, ""); err != nil {
		notes = append(notes, "inventory.json: "+kube.OneLine(err))
	} else {
		files["inventory.json"] = inventory.Build(inv.Nodes, inv.Pods, inventory.BuildOptions{AllNodes: true})
	}
	logs, err := operatorLogs(ctx, c)
	if err != nil {
		notes = append(notes, "operator.log: "+kube.OneLine(err))
	} else {
		files["operator.log"] = logs
	}

	written := 0
	for name, v := range files {
		b, err := encode(name, v)
		if err != nil {
			return written, fmt.Errorf("%s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return written, err
		}
		written++
	}
	readme := bundleReadme(g, notes)
	if err := os.WriteFile(filepath.Join(dir, "README.txt"), []byte(readme), 0o600); err != nil {
		return written, err
	}
	return written + 1, nil
}

func list(items []any) map[string]any {
	if items == nil {
		items = []any{}
	}
	return map[string]any{"apiVersion": "v1", "kind": "List", "items": items}
}

// encode writes v as its file's format (JSON, YAML, or the log's text), credentials redacted.
func encode(name string, v any) ([]byte, error) {
	if s, ok := v.(string); ok {
		return []byte(redactText(s)), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return nil, err
	}
	generic = redact(generic)
	if strings.HasSuffix(name, ".json") {
		return json.MarshalIndent(generic, "", "  ")
	}
	return yaml.Marshal(generic)
}

// lastApplied is kubectl's copy of an applied manifest: it would repeat every value redact
// blanks.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// redact hides credentials wherever they are in a decoded object: the value of every
// {name, value} pair whose name looks like a credential (environment variables written inline
// in a graph or pod), the argument after a credential-looking flag in a list (args, command),
// and in every string what redactText hides. It drops kubectl's last-applied copy and
// managedFields (noise, and a second copy of the values).
func redact(v any) any {
	switch t := v.(type) {
	case map[string]any:
		delete(t, lastApplied)
		delete(t, "managedFields")
		if name, ok := t["name"].(string); ok && credentialName.MatchString(name) {
			if _, has := t["value"].(string); has {
				t["value"] = redacted
			}
		}
		for k, x := range t {
			t[k] = redact(x)
		}
		return t
	case []any:
		for i, x := range t {
			_, isString := x.(string)
			if prev, ok := t[max(i-1, 0)].(string); isString && i > 0 && ok && credentialFlagAlone.MatchString(prev) {
				t[i] = redacted
				continue
			}
			t[i] = redact(x)
		}
		return t
	case string:
		return redactText(t)
	}
	return v
}

// operatorLogs reads the newest lines of every container of the operator's pods, in any
// namespace.
func operatorLogs(ctx context.Context, c explain.Clients) (string, error) {
	pods, err := c.Kube.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: operatorSelector})
	if err != nil {
		return "", err
	}
	if len(pods.Items) == 0 {
		return "", errors.New("no pod labelled " + operatorSelector + " (the operator runs outside the cluster, or under other labels)")
	}
	var b bytes.Buffer
	var errs []error
	for _, p := range pods.Items {
		for _, ctr := range p.Spec.Containers {
			fmt.Fprintf(&b, "==> %s/%s container %s <==\n", p.Namespace, p.Name, ctr.Name)
			req := c.Kube.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: ctr.Name,
				TailLines: ptr.To[int64](operatorLogLines), LimitBytes: ptr.To[int64](operatorLogBytes)})
			rc, err := req.Stream(ctx)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s/%s: %w", p.Namespace, p.Name, err))
				fmt.Fprintf(&b, "(not readable: %s)\n", kube.OneLine(err))
				continue
			}
			_, err = io.Copy(&b, rc)
			rc.Close()
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	if b.Len() == 0 {
		return "", errors.Join(errs...)
	}
	return b.String(), nil
}

func bundleReadme(g *graph.Graph, notes []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `Debug bundle of DynamoGraphDeployment %s/%s, written by dynamoctl explain --bundle.

explain.json     the explanation (schema %s)
graph.yaml       the graph as stored, with its status
workloads.yaml   its Deployments, LeaderWorkerSets and ReplicaSets
pods.yaml        its pods, with their status
events.yaml      events about the graph, its children and pods
services.yaml    its Services
inventory.json   the GPU inventory of every node (dynamoctl gpus -o json)
operator.log     the newest %d lines of the operator's containers

Only GET and LIST requests were made. No Secret was read. Replaced by REDACTED: the values of
environment variables whose names hold password, pass, pwd, secret, token, key or credential
(any case, anywhere in the name), passwords in URLs (scheme://user:REDACTED@host), the value
after a flag whose name holds token, key, password or secret (--api-key, --hf-token=...), and
NAME=value where NAME looks like a credential, in every file and the operator's log. Values
written under other names are kept: read the files before sharing them.
`, g.Namespace, g.Name, explain.SchemaVersion, operatorLogLines)
	if len(notes) > 0 {
		b.WriteString("\nNot included:\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "  %s\n", n)
		}
	}
	return b.String()
}
