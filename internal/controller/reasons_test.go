package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/controller/controllertest"
	"github.com/dynamo-infra/dynamo-infra/internal/diagnose"
)

// reasonGraph is a one-service graph in namespace ns whose frontend carries extra YAML lines
// (indented for the service).
func reasonGraph(name, ns, extra string) string {
	return fmt.Sprintf(`apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeployment
metadata: {name: %s, namespace: %s}
spec:
  services:
    Frontend:
      componentType: frontend
      extraPodSpec:
        mainContainer: {image: registry.example/frontend:1}
%s`, name, ns, extra)
}

// Each typed reason produced for real on the simulated cluster, not by writing status: a taint
// nobody tolerates, a ResourceQuota that forbids the pods, a namespace enforcing Pod Security
// "restricted" against the default pod, a claim that does not exist, containers that keep
// dying (the dev cluster's crash-loop stage, exit 1 or OOMKilled) and a readiness probe that
// fails (its probe-failing stage). The Ready message
// keeps naming the service.
func TestServiceReasons(t *testing.T) {
	_, cl := setup(t, "cpu=1")
	ctx := context.Background()
	nodes := &corev1.NodeList{}
	if err := cl.List(ctx, nodes); err != nil || len(nodes.Items) != 1 {
		t.Fatalf("nodes: %d (%v)", len(nodes.Items), err)
	}
	// A second node tainted for infrastructure, the only one the graph's pods may use.
	infra := nodes.Items[0].DeepCopy()
	infra.ObjectMeta = metav1.ObjectMeta{Name: "infra-0", Labels: map[string]string{"pool": "infra", "type": "kwok"},
		Annotations: nodes.Items[0].Annotations}
	infra.Spec.Taints = append(infra.Spec.Taints, corev1.Taint{Key: "dedicated", Value: "infra", Effect: corev1.TaintEffectNoSchedule})
	infra.Status = corev1.NodeStatus{Allocatable: nodes.Items[0].Status.Allocatable, Capacity: nodes.Items[0].Status.Capacity}
	if err := cl.Create(ctx, infra); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "quota"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "restricted", Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}},
	} {
		if err := cl.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "no-pods", Namespace: "quota"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		graph, ns, extra, reason, says string
	}{
		{"tainted", "default", "      extraPodSpec:\n        nodeSelector: {pool: infra}\n        mainContainer: {image: registry.example/frontend:1}\n",
			diagnose.ReasonUnschedulable, "had untolerated taint"},
		{"quota", "quota", "", diagnose.ReasonPodsNotCreated, "exceeded quota"},
		{"restricted", "restricted", "", diagnose.ReasonPodsNotCreated, `violates PodSecurity "restricted:latest"`},
		{"noclaim", "default", "      volumeMounts: [{name: absent, mountPoint: /models}]\n",
			diagnose.ReasonMissingPVC, `persistentvolumeclaim "absent" not found`},
		{"crashing", "default", "      extraPodMetadata: {annotations: {dynamo-infra.dev/simulate: crash-loop}}\n",
			diagnose.ReasonCrashLoop, "CrashLoopBackOff, last exit 1 Error"},
		{"oom", "default", "      extraPodMetadata: {annotations: {dynamo-infra.dev/simulate: oom-killed}}\n",
			diagnose.ReasonCrashLoop, "CrashLoopBackOff, last exit 137 OOMKilled"},
		{"unready", "default", "      extraPodMetadata: {annotations: {dynamo-infra.dev/simulate: probe-failing}}\n",
			diagnose.ReasonProbeFailing, "container main running but not ready (readiness probe failing)"},
	}
	for _, tc := range cases {
		manifest := reasonGraph(tc.graph, tc.ns, tc.extra)
		if strings.Contains(tc.extra, "extraPodSpec") {
			// The case brings its own extraPodSpec: drop the default one.
			manifest = strings.Replace(manifest, "      extraPodSpec:\n        mainContainer: {image: registry.example/frontend:1}\n", "", 1)
		}
		if tc.graph == "noclaim" {
			manifest = strings.Replace(manifest, "spec:\n", "spec:\n  pvcs: [{name: absent}]\n", 1)
		}
		controllertest.CreateGraph(t, cl, manifest)
	}
	for _, tc := range cases {
		t.Run(tc.graph, func(t *testing.T) {
			waitForGraph(t, cl, types.NamespacedName{Namespace: tc.ns, Name: tc.graph}, tc.reason, 2*time.Minute,
				func(d *v1alpha1.DynamoGraphDeployment, cond *metav1.Condition) (bool, error) {
					s := d.Status.Services["Frontend"]
					return s.Reason == tc.reason && strings.Contains(s.Message, tc.says) && cond != nil && cond.Status == metav1.ConditionFalse &&
						strings.Contains(cond.Message, "Frontend: "+s.Message), fmt.Errorf("frontend %+v, condition %+v", s, cond)
				})
		})
	}
}
