package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/bench/internal/load"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

// floorConfig is what the benchmark's operator renders with (load.StartOperator's flags).
var floorConfig = render.Config{NATSAddress: "nats://nats:4222"}

// floor is the operator's floor: each graph's children rendered as the operator renders them and
// applied with server-side apply, once each — what must be written for the graphs to run, with
// no reconcile loop, no status and no events — 16 graphs at a time, the objects pods need first
// (accounts, roles, claims), as the operator orders them. It reports the time until every graph's
// Deployments are available and the writes per graph.
func floor(ctx context.Context, rc *rest.Config, graphs []*unstructured.Unstructured, start time.Time) error {
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	var writes atomic.Int64
	var deployments atomic.Int64
	apply := func(obj runtime.Object) error {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return err
		}
		delete(u, "status")
		unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
		o := &unstructured.Unstructured{Object: u}
		gvk := obj.GetObjectKind().GroupVersionKind()
		if gvk.Empty() {
			return fmt.Errorf("%T without apiVersion and kind", obj)
		}
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return err
		}
		writes.Add(1)
		_, err = dyn.Resource(m.Resource).Namespace(o.GetNamespace()).Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: "bench-floor", Force: true})
		return err
	}
	err = load.Parallel(len(graphs), func(i int) error {
		var dgd v1alpha1.DynamoGraphDeployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(graphs[i].Object, &dgd); err != nil {
			return err
		}
		g, err := graph.Resolve(&dgd, graph.Options{})
		if err != nil {
			return err
		}
		objs, err := render.Graph(g, floorConfig)
		if err != nil {
			return err
		}
		// Accounts, roles and claims first, the rest after: a binding is authorized by
		// reading its role, pods wait for their account.
		var later []runtime.Object
		for _, obj := range objs {
			switch obj.(type) {
			case *appsv1.Deployment, *rbacv1.RoleBinding:
				later = append(later, obj)
				if _, ok := obj.(*appsv1.Deployment); ok {
					deployments.Add(1)
				}
				continue
			}
			if err := apply(obj); err != nil {
				return fmt.Errorf("%s: %w", dgd.Name, err)
			}
		}
		for _, obj := range later {
			if err := apply(obj); err != nil {
				return fmt.Errorf("%s: %w", dgd.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	applied := time.Since(start)
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	want := int(deployments.Load())
	var ready int
	for ready < want {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		l, err := cs.AppsV1().Deployments("bench").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return err
		}
		ready = 0
		for i := range l.Items {
			d := &l.Items[i]
			if d.Spec.Replicas != nil && d.Status.AvailableReplicas >= *d.Spec.Replicas && d.Status.ObservedGeneration >= d.Generation {
				ready++
			}
		}
	}
	all := time.Since(start)
	n := float64(len(graphs))
	fmt.Printf("\nfloor: %d graphs' children applied by this program (no operator)\n", len(graphs))
	fmt.Printf("  every child applied          %8s\n", applied.Round(time.Millisecond))
	fmt.Printf("  every graph's Deployments available %s\n", all.Round(time.Millisecond))
	fmt.Printf("  writes per graph             %8.2f  (server-side applies)\n", float64(writes.Load())/n)
	return nil
}
