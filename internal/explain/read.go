package explain

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	lwsv1 "sigs.k8s.io/lws/api/leaderworkerset/v1"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
)

var lwsResource = lwsv1.GroupVersion.WithResource("leaderworkersets")

// Clients are what ReadLive reads the cluster with.
type Clients struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	// PerNode lists pods node by node: many small requests at once, not held back by the
	// client's rate limit (the API server's priority and fairness still applies).
	PerNode kubernetes.Interface
}

// NewClients makes the clients from a config.
func NewClients(cfg *rest.Config) (Clients, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return Clients{}, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return Clients{}, err
	}
	fast := rest.CopyConfig(cfg)
	fast.QPS, fast.Burst = -1, 0 // no client-side limit
	perNode, err := kubernetes.NewForConfig(fast)
	return Clients{Kube: cs, Dynamic: dyn, PerNode: perNode}, err
}

// LiveRead is what was read about a graph: Build's input, and for a bundle the graph as stored.
type LiveRead struct {
	Live
	Raw *unstructured.Unstructured
	// notesMu guards Notes: reads that run together add to them.
	notesMu sync.Mutex
}

// AddNote adds a note to the report (safe from concurrent reads).
func (in *LiveRead) AddNote(note string) {
	in.notesMu.Lock()
	in.Notes = append(in.Notes, note)
	in.notesMu.Unlock()
}

// GraphNotFoundError: the graph asked for does not exist in its namespace.
type GraphNotFoundError struct{ Namespace, Name string }

func (e *GraphNotFoundError) Error() string {
	return fmt.Sprintf("dynamographdeployment %q not found in namespace %q", e.Name, e.Namespace)
}

// ReadOptions say how much ReadLive reads.
type ReadOptions struct {
	// Bundle reads every event of the graph (a debug bundle), not only its chains'.
	Bundle bool
	// Fresh reads the nodes even where the graph's status carries the operator's figure.
	Fresh bool
	Now   time.Time
}

// ReadLive reads a graph and what explains it, in two rounds of concurrent requests: the
// graph's workloads, ReplicaSets, pods and claims; then, for the services not ready, the events
// of their chain and — when the scheduler cannot place a pod — the nodes it could use and the
// GPU usage on them.
func ReadLive(ctx context.Context, c Clients, ns, name string, o ReadOptions) (*LiveRead, error) {
	bundle, fresh, now := o.Bundle, o.Fresh, o.Now
	u, err := c.Dynamic.Resource(graph.Resource).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if graph.IsMissing(err) {
		return nil, &GraphNotFoundError{Namespace: ns, Name: name}
	}
	if err != nil {
		return nil, err
	}
	decoded, err := graph.FromUnstructured(u)
	if err != nil {
		return nil, err
	}
	// A graph the operator cannot render is explained all the same: its status says why.
	g, _ := graph.Resolve(decoded, graph.Options{})
	in := &LiveRead{Raw: u, Live: Live{Graph: g, Now: now, ReadNodes: fresh,
		Deployments: map[string]*appsv1.Deployment{}, LeaderWorkerSets: map[string]*lwsv1.LeaderWorkerSet{}}}
	if err := readChildren(ctx, c, in); err != nil {
		return nil, err
	}
	first := Build(in.Live)
	eg, gctx := errgroup.WithContext(ctx)
	switch {
	case bundle:
		eg.Go(func() error { return readGraphEvents(gctx, c, in) })
	case !first.Graph.Ready:
		eg.Go(func() error { return readEvents(gctx, c, in, ChainObjects(first)) })
	}
	if qs := NodeQuestions(in.Live, first); len(qs) > 0 {
		eg.Go(func() error { return readNodes(gctx, c, in, qs) })
	}
	return in, eg.Wait()
}

// readChildren gets every service's workload and lists the graph's ReplicaSets and pods (one
// LIST each, by the graph's label) and the claims it mounts without creating them.
func readChildren(ctx context.Context, c Clients, in *LiveRead) error {
	g := in.Graph
	graphLabel := labels.SelectorFromSet(labels.Set{v1alpha1.LabelGraphDeploymentName: g.Name}).String()
	var mu sync.Mutex
	// A read the user's RBAC forbids is a note on the report, not the end of it: what could be
	// read still explains (partial RBAC printed no report at all).
	denied := func(what string, err error) bool {
		if !apierrors.IsForbidden(err) {
			return false
		}
		in.AddNote(fmt.Sprintf("%s not read, so not shown or counted below (forbidden: %s)", what, kube.OneLine(err)))
		return true
	}
	eg, ctx := errgroup.WithContext(ctx)
	for _, comp := range g.Components {
		name := comp.Name
		if comp.Multinode() {
			eg.Go(func() error {
				u, err := c.Dynamic.Resource(lwsResource).Namespace(g.Namespace).Get(ctx, comp.WorkloadName, metav1.GetOptions{})
				if apierrors.IsNotFound(err) || denied("leaderworkerset "+comp.WorkloadName, err) {
					return nil // not created; a cluster without LWS answers 404 as well
				}
				if err != nil {
					return fmt.Errorf("get leaderworkerset: %w", err)
				}
				l := &lwsv1.LeaderWorkerSet{}
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, l); err != nil {
					return err
				}
				mu.Lock()
				in.LeaderWorkerSets[name] = l
				mu.Unlock()
				return nil
			})
			continue
		}
		eg.Go(func() error {
			d, err := c.Kube.AppsV1().Deployments(g.Namespace).Get(ctx, comp.WorkloadName, metav1.GetOptions{})
			if apierrors.IsNotFound(err) || denied("deployment "+comp.WorkloadName, err) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("get deployment: %w", err)
			}
			mu.Lock()
			in.Deployments[name] = d
			mu.Unlock()
			return nil
		})
	}
	eg.Go(func() error {
		list, err := c.Kube.AppsV1().ReplicaSets(g.Namespace).List(ctx, metav1.ListOptions{LabelSelector: graphLabel})
		if denied("replicasets", err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list replicasets: %w", err)
		}
		in.ReplicaSets = list.Items
		return nil
	})
	eg.Go(func() error {
		list, err := c.Kube.CoreV1().Pods(g.Namespace).List(ctx, metav1.ListOptions{LabelSelector: graphLabel})
		if denied("pods", err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list pods: %w", err)
		}
		in.Pods = list.Items
		return nil
	})
	for _, p := range g.PVCs {
		if p.Create != nil && *p.Create {
			continue
		}
		eg.Go(func() error {
			_, err := c.Kube.CoreV1().PersistentVolumeClaims(g.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
			switch {
			case denied("persistentvolumeclaim "+p.Name, err):
			case apierrors.IsNotFound(err):
				mu.Lock()
				in.MissingPVCs = append(in.MissingPVCs, p.Name)
				mu.Unlock()
			case err != nil:
				return fmt.Errorf("get pvc: %w", err)
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	slices.Sort(in.MissingPVCs)
	return nil
}

// readEvents lists the events of the objects ("Kind/name") in the chains of services not
// ready, one field-selected LIST per object. Events that cannot be read become a note, not a
// failure.
func readEvents(ctx context.Context, c Clients, in *LiveRead, objects []string) error {
	var mu sync.Mutex
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(16)
	var denied error
	for _, obj := range objects {
		kind, name, _ := strings.Cut(obj, "/")
		eg.Go(func() error {
			sel := fields.Set{"involvedObject.kind": kind, "involvedObject.name": name}.AsSelector().String()
			list, err := c.Kube.CoreV1().Events(in.Graph.Namespace).List(ctx, metav1.ListOptions{FieldSelector: sel})
			mu.Lock()
			defer mu.Unlock()
			if apierrors.IsForbidden(err) {
				denied = err
				return nil
			}
			if err != nil {
				return fmt.Errorf("list events: %w", err)
			}
			in.Events = append(in.Events, list.Items...)
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	if denied != nil {
		in.AddNote("events not shown: " + kube.OneLine(denied))
	}
	return nil
}

// readGraphEvents lists the namespace's events and keeps those about the graph and its
// children and pods (their names start with the graph's): the bundle's events.
func readGraphEvents(ctx context.Context, c Clients, in *LiveRead) error {
	list, err := c.Kube.CoreV1().Events(in.Graph.Namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) {
		in.AddNote("events not shown: " + kube.OneLine(err))
		return nil
	}
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	for _, e := range list.Items {
		if n := e.InvolvedObject.Name; n == in.Graph.Name || strings.HasPrefix(n, in.Graph.Name+"-") {
			in.Events = append(in.Events, e)
		}
	}
	return nil
}

// readNodes lists the nodes the pods could run on — by their node selector when every pod has
// the same one — and the NVIDIA requests of the active pods on enough of the candidates to say
// how much is free at most (UsagePlan).
func readNodes(ctx context.Context, c Clients, in *LiveRead, questions []NodeQuestion) error {
	sel := NodeSelector(questions[0].Spec)
	for _, q := range questions[1:] {
		if NodeSelector(q.Spec) != sel {
			sel = ""
		}
	}
	// ResourceVersion 0: served from the API server's cache; a second-old view is enough here.
	list, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: sel, ResourceVersion: "0"})
	if apierrors.IsForbidden(err) {
		in.AddNote("nodes not shown: " + kube.OneLine(err))
		return nil
	}
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	nodes := &Nodes{Selector: sel, Items: make([]corev1.Node, 0, len(list.Items)), Read: map[string]bool{}}
	for i := range list.Items {
		n := &list.Items[i]
		n.ManagedFields, n.Status.Images = nil, nil
		nodes.Items = append(nodes.Items, *n)
	}
	list = nil
	for _, q := range questions {
		err := readUsage(ctx, c, nodes, PlanUsage(q.Spec, q.Scheduler, nodes.Items))
		if apierrors.IsForbidden(err) {
			in.AddNote("nodes not shown: " + kube.OneLine(err))
			return nil
		}
		if err != nil {
			return err
		}
		if nodes.Read == nil {
			break // every active pod was read
		}
	}
	in.Nodes = nodes
	return nil
}

// perNodeLimit: up to this many nodes, pods are listed node by node (the API server indexes
// pods by node, and each answer is a few pods); past it, one paged LIST of every active pod is
// cheaper. Measured on 2,000 nodes and 20,000 pods (docs/benchmarks.md).
const perNodeLimit = 1000

// perNodeConcurrency is how many of those LISTs are in flight at once, and the batch size
// between two looks at whether the rest can change the answer.
const perNodeConcurrency = 32

// readUsage reads the pods of the plan's nodes, most allocatable first, a batch at a time,
// until the rest cannot change the most free (plan.Done); past perNodeLimit nodes it reads
// every active pod instead (nodes.Read becomes nil).
func readUsage(ctx context.Context, c Clients, nodes *Nodes, plan UsagePlan) error {
	best := int64(-1)
	for i := 0; !plan.Done(i, best); {
		if len(nodes.Read) >= perNodeLimit {
			usage, err := inventory.ListPodUsage(ctx, c.Kube)
			nodes.Usage, nodes.Read = usage, nil
			return err
		}
		end := min(i+perNodeConcurrency, len(plan.Nodes))
		eg, gctx := errgroup.WithContext(ctx)
		var mu sync.Mutex
		for j := i; j < end; j++ {
			node := plan.Nodes[j]
			if nodes.Read[node] {
				continue // read for another service's question
			}
			eg.Go(func() error {
				sel := "spec.nodeName=" + node + ",status.phase!=Succeeded,status.phase!=Failed"
				pods, err := c.PerNode.CoreV1().Pods(metav1.NamespaceAll).List(gctx, metav1.ListOptions{FieldSelector: sel, ResourceVersion: "0"})
				if err != nil {
					return fmt.Errorf("list pods on %s: %w", node, err)
				}
				mu.Lock()
				defer mu.Unlock()
				for k := range pods.Items {
					if u, ok := inventory.PodUsageOf(&pods.Items[k]); ok {
						nodes.Usage = append(nodes.Usage, u)
					}
				}
				nodes.Read[node] = true
				return nil
			})
		}
		if err := eg.Wait(); err != nil {
			return err
		}
		// Free on each node of the batch (read now or for an earlier question).
		used := map[string]int64{}
		for _, u := range nodes.Usage {
			used[u.Node] += u.Requests[plan.Resource]
		}
		for j := i; j < end; j++ {
			best = max(best, plan.Allocatable(j)-used[plan.Nodes[j]])
		}
		i = end
	}
	return nil
}
