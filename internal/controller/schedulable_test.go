package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/controller"
	"github.com/dynamo-infra/dynamo-infra/internal/controller/controllertest"
	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

const schedulableGraph = `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: sched, namespace: default}
spec:
  services:
    decode:
      componentType: decode
      replicas: 2
      resources: {limits: {gpu: "8"}}
      extraPodSpec: {mainContainer: {image: registry.example/vllm:1}}
`

// The Schedulable condition on two 8-GPU nodes: a graph whose pods all run has none (nothing
// planned); scaled to three whole-node decode pods, the operator plans the change on its
// capacity view — its own two pods given back, the pods as admitted — and says it does not fit,
// with the plan's reason; scaled back, every pod has a node and the condition says so.
func TestSchedulableCondition(t *testing.T) {
	_, cl := controllertest.Setup(t, "h100=2,cpu=1")
	ctx := context.Background()
	controllertest.CreateGraph(t, cl, schedulableGraph)
	key := types.NamespacedName{Namespace: "default", Name: "sched"}
	var got v1alpha1.DynamoGraphDeployment
	waitForGraph(t, cl, key, "Ready", 2*time.Minute, func(d *v1alpha1.DynamoGraphDeployment, ready *metav1.Condition) (bool, error) {
		got = *d
		return ready != nil && ready.Status == metav1.ConditionTrue, nil
	})
	if c := meta.FindStatusCondition(got.Status.Conditions, controller.ConditionSchedulable); c != nil {
		t.Errorf("a graph whose pods all run has Schedulable %s: %s", c.Status, c.Message)
	}
	scale := func(n int32) {
		t.Helper()
		if err := cl.Get(ctx, key, &got); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(got.DeepCopy())
		got.Spec.Services["decode"].Replicas = ptr.To(n)
		if err := cl.Patch(ctx, &got, patch); err != nil {
			t.Fatal(err)
		}
	}
	scale(3)
	var c *metav1.Condition
	// Planned before apply (the graph applied all the same), then again once the scheduler
	// refuses the third pod.
	var before string
	waitForGraph(t, cl, key, "Schedulable False after apply", 2*time.Minute, func(d *v1alpha1.DynamoGraphDeployment, _ *metav1.Condition) (bool, error) {
		c = meta.FindStatusCondition(d.Status.Conditions, controller.ConditionSchedulable)
		if c != nil && strings.Contains(c.Message, "planned before apply") {
			before = c.Message
		}
		return c != nil && c.Status == metav1.ConditionFalse && c.ObservedGeneration == d.Generation && strings.Contains(c.Message, "stays applied"), nil
	})
	if before != "" && !strings.Contains(before, "the graph is applied all the same") {
		t.Errorf("the verdict before apply: %q", before)
	}
	for _, want := range []string{"decode: 2 of 3 replica(s) placed; each pod needs 8 nvidia.com/gpu", "have 8 nvidia.com/gpu left, the most is 0", "(no placement exists, cluster as read at", "the graph stays applied"} {
		if c.Reason != controller.ReasonDoesNotFit || !strings.Contains(c.Message, want) {
			t.Errorf("Schedulable %s: %q lacks %q", c.Reason, c.Message, want)
		}
	}
	scale(2)
	waitForGraph(t, cl, key, "Schedulable True", 2*time.Minute, func(d *v1alpha1.DynamoGraphDeployment, _ *metav1.Condition) (bool, error) {
		c = meta.FindStatusCondition(d.Status.Conditions, controller.ConditionSchedulable)
		return c != nil && c.Status == metav1.ConditionTrue, nil
	})
	if c.Reason != controller.ReasonAllPlaced {
		t.Errorf("Schedulable True %s: %s", c.Reason, c.Message)
	}

	// A worker change that cannot roll as it is: each 8-GPU node holds a decode pod, no room for
	// a surge pod, and maxUnavailable 0 (25% of 2, rounded down). Paused, nothing moves, and the
	// plan says the rollout would stall and what to set; set so and resumed, the pods are
	// replaced one at a time.
	edit := func(f func(*v1alpha1.DynamoGraphDeployment)) {
		t.Helper()
		if err := cl.Get(ctx, key, &got); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(got.DeepCopy())
		f(&got)
		if err := cl.Patch(ctx, &got, patch); err != nil {
			t.Fatal(err)
		}
	}
	edit(func(d *v1alpha1.DynamoGraphDeployment) {
		d.Annotations = map[string]string{v1alpha1.AnnotationRolloutPaused: "true"}
		d.Spec.Services["decode"].Envs = []corev1.EnvVar{{Name: "NEW", Value: "1"}}
	})
	waitForGraph(t, cl, key, "a paused rollout that the plan says would stall", 2*time.Minute, func(d *v1alpha1.DynamoGraphDeployment, _ *metav1.Condition) (bool, error) {
		ru := d.Status.RollingUpdate
		return ru != nil && strings.HasPrefix(ru.Message, "paused") &&
			strings.Contains(ru.Message, "the plan: decode: no room for a surge pod and maxUnavailable is 0") &&
			strings.Contains(ru.Message, `nvidia.com/deployment-rolling-update-max-unavailable: "1"`), fmt.Errorf("rollingUpdate %+v, Schedulable %+v", ru, meta.FindStatusCondition(d.Status.Conditions, controller.ConditionSchedulable))
	})
	edit(func(d *v1alpha1.DynamoGraphDeployment) {
		delete(d.Annotations, v1alpha1.AnnotationRolloutPaused)
		d.Spec.Services["decode"].Annotations = map[string]string{v1alpha1.AnnotationMaxSurge: "0", v1alpha1.AnnotationMaxUnavailable: "1"}
	})
	waitForGraph(t, cl, key, "rolled one pod at a time", 2*time.Minute, func(d *v1alpha1.DynamoGraphDeployment, ready *metav1.Condition) (bool, error) {
		ru := d.Status.RollingUpdate
		return ru != nil && ru.Phase == "Completed" && ready != nil && ready.Status == metav1.ConditionTrue, nil
	})

	// One prefill per node (required anti-affinity by hostname), three of them on two GPU nodes:
	// the scheduler refuses the third though both nodes have GPUs left, and the operator's plan —
	// which knows the graph's own pods, not their labels elsewhere — says the anti-affinity
	// refuses them, not capacity.
	if err := cl.Delete(ctx, &got); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first graph's pods gone", 2*time.Minute, func(ctx context.Context) (bool, error) {
		var pods corev1.PodList
		err := cl.List(ctx, &pods, client.MatchingLabels{v1alpha1.LabelGraphDeploymentName: "sched"})
		return err == nil && len(pods.Items) == 0, err
	})
	controllertest.CreateGraph(t, cl, antiAffinityGraph)
	key = types.NamespacedName{Namespace: "default", Name: "apart"}
	waitForGraph(t, cl, key, "Schedulable False by anti-affinity", 2*time.Minute, func(d *v1alpha1.DynamoGraphDeployment, _ *metav1.Condition) (bool, error) {
		c = meta.FindStatusCondition(d.Status.Conditions, controller.ConditionSchedulable)
		return c != nil && c.Status == metav1.ConditionFalse && strings.Contains(c.Message, "by pod anti-affinity"), nil
	})
	if want := "prefill: 2 of 3 replica(s) placed; each pod needs 1 nvidia.com/gpu"; !strings.Contains(c.Message, want) {
		t.Errorf("Schedulable: %q lacks %q", c.Message, want)
	}

	// A graph that waits for capacity (the annotation) is not applied while its plan proves it
	// does not fit: no Deployment, Ready False WaitingForCapacity with the plan's reason — its
	// pods planned as the namespace admits pods (the cluster's default toleration of the kwok
	// taint, learnt from the other graph's pods). Once the other graph is gone and it is scaled
	// to what fits, it is applied and becomes Ready.
	var apart v1alpha1.DynamoGraphDeployment
	if err := cl.Get(ctx, key, &apart); err != nil {
		t.Fatal(err)
	}
	waiting := controllertest.CreateGraph(t, cl, waitingGraph)
	key = types.NamespacedName{Namespace: "default", Name: "waiting"}
	var ready *metav1.Condition
	waitForGraph(t, cl, key, "held for capacity", 2*time.Minute, func(d *v1alpha1.DynamoGraphDeployment, r *metav1.Condition) (bool, error) {
		c, ready = meta.FindStatusCondition(d.Status.Conditions, controller.ConditionSchedulable), r
		return c != nil && c.Status == metav1.ConditionFalse && r != nil && r.Reason == controller.ReasonWaitingForCapacity, nil
	})
	// Planned on a view that holds the other graph's prefill pods (read after the scheduler
	// refused its third one): each GPU node has one GPU taken, so no 8-GPU pod fits.
	for _, want := range []string{"decode: 0 of 3 replica(s) placed", "the most is 7", "no placement exists", "not applied"} {
		if !strings.Contains(c.Message, want) || !strings.Contains(ready.Message, want) {
			t.Errorf("Schedulable %q / Ready %q lack %q", c.Message, ready.Message, want)
		}
	}
	var deps appsv1.DeploymentList
	if err := cl.List(ctx, &deps, client.MatchingLabels{v1alpha1.LabelGraphDeploymentName: "waiting"}); err != nil || len(deps.Items) != 0 {
		t.Errorf("a held graph has %d Deployment(s) (%v)", len(deps.Items), err)
	}
	if err := cl.Delete(ctx, &apart); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(waiting.DeepCopy())
	waiting.Spec.Services["decode"].Replicas = ptr.To[int32](2)
	if err := cl.Patch(ctx, waiting, patch); err != nil {
		t.Fatal(err)
	}
	waitForGraph(t, cl, key, "Ready once it fits", 2*time.Minute, func(d *v1alpha1.DynamoGraphDeployment, r *metav1.Condition) (bool, error) {
		return r != nil && r.Status == metav1.ConditionTrue, nil
	})
}

const waitingGraph = `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata:
  name: waiting
  namespace: default
  annotations: {dynamo-infra.dev/wait-for-capacity: "true"}
spec:
  services:
    decode:
      componentType: decode
      replicas: 3
      resources: {limits: {gpu: "8"}}
      extraPodSpec: {mainContainer: {image: registry.example/vllm:1}}
`

const antiAffinityGraph = `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: apart, namespace: default}
spec:
  services:
    prefill:
      componentType: prefill
      replicas: 3
      resources: {limits: {gpu: "1"}}
      extraPodMetadata: {labels: {app: apart-prefill}}
      extraPodSpec:
        affinity:
          podAntiAffinity:
            requiredDuringSchedulingIgnoredDuringExecution:
            - {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: apart-prefill}}}
        mainContainer: {image: registry.example/vllm:1}
`

const draSchedGraph = `apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: dra, namespace: default}
spec:
  services:
    decode:
      componentType: decode
      replicas: 3
      resources: {claims: [{name: gpus}]}
      extraPodSpec:
        resourceClaims: [{name: gpus, resourceClaimTemplateName: eight-gpus}]
        mainContainer: {image: registry.example/vllm:1}
`

// The operator plans DRA claims as dynamoctl plan does: three pods of eight GPU devices each
// (a claim template) on two nodes whose ResourceSlices publish eight each — the scheduler
// places two, and the Schedulable plan says the third has no devices, in the plan's words.
func TestSchedulableWithDRAClaims(t *testing.T) {
	c, cl := controllertest.Setup(t, "h100=2,cpu=1", devclustertest.WithDRA)
	ctx := context.Background()
	tmpl := devclustertest.GPUClaimTemplate("default", "eight-gpus", 8)
	if _, err := c.Client().ResourceV1().ResourceClaimTemplates("default").Create(ctx, tmpl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.CreateGraph(t, cl, draSchedGraph)
	key := types.NamespacedName{Namespace: "default", Name: "dra"}
	var cond *metav1.Condition
	waitForGraph(t, cl, key, "Schedulable False for want of devices", 2*time.Minute, func(d *v1alpha1.DynamoGraphDeployment, _ *metav1.Condition) (bool, error) {
		cond = meta.FindStatusCondition(d.Status.Conditions, controller.ConditionSchedulable)
		return cond != nil && cond.Status == metav1.ConditionFalse && strings.Contains(cond.Message, "stays applied"), nil
	})
	for _, want := range []string{"decode: 2 of 3 replica(s) placed", "devices.dynamo-infra.dev/" + nvidia.DeviceClassGPU} {
		if cond.Reason != controller.ReasonDoesNotFit || !strings.Contains(cond.Message, want) {
			t.Errorf("Schedulable %s: %q lacks %q", cond.Reason, cond.Message, want)
		}
	}
}
