// Package rollout decides each step of a managed rolling update of a graph's workers, as the
// original operator does (deploy/operator/internal/controller: its worker rollout reconciler):
// when a worker's spec changes, the new generation of every worker service comes up beside the
// old one, and the old one goes down, within the service's maxSurge and maxUnavailable. Pure: the
// controller reads the workloads, asks Step, applies the targets.
package rollout

import (
	"fmt"
	"math"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
)

// Phases of status.rollingUpdate, the original's.
const (
	PhasePending    = "Pending"
	PhaseInProgress = "InProgress"
	PhaseCompleted  = "Completed"
)

// Defaults of maxSurge and maxUnavailable when a service's annotations set none: the
// original's for Deployments (a Deployment's own); for multi-node services, which the original
// leaves to LeaderWorkerSet, LeaderWorkerSet's (one group down at a time, none above replicas:
// a group needs whole nodes, which a cluster rarely has spare).
var (
	defaultBound         = intstr.FromString("25%")
	groupSurge, groupOff = intstr.FromInt32(0), intstr.FromInt32(1)
)

// Bounds resolves a worker service's maxSurge and maxUnavailable (its annotations
// v1alpha1.AnnotationMaxSurge and AnnotationMaxUnavailable; 25% each by default, 0 and 1 for a
// multi-node service) against its replicas, as the original does: a percentage rounds up for
// surge and down for unavailable, and when both come to 0, surge is 1 so that the rollout
// moves. A value that is neither a number nor a percentage counts as 0, as there.
func Bounds(annotations map[string]string, replicas int32, multinode bool) (maxSurge, maxUnavailable int32) {
	resolve := func(key string, up bool) int32 {
		v := defaultBound
		if multinode {
			v = map[bool]intstr.IntOrString{true: groupSurge, false: groupOff}[up]
		}
		if s := annotations[key]; s != "" {
			v = intstr.Parse(s)
		}
		n, err := intstr.GetScaledValueFromIntOrPercent(&v, int(replicas), up)
		if err != nil || n < 0 {
			return 0
		}
		return int32(min(n, int(maxReplicas)))
	}
	maxSurge, maxUnavailable = resolve(v1alpha1.AnnotationMaxSurge, true), resolve(v1alpha1.AnnotationMaxUnavailable, false)
	if maxSurge == 0 && maxUnavailable == 0 {
		maxSurge = 1
	}
	return maxSurge, maxUnavailable
}

// maxReplicas bounds a resolved value ("2147483647" as a surge stays a sum that fits in int32).
const maxReplicas = v1alpha1.MaxPods

// Workload is one generation's Deployment (or LeaderWorkerSet) of a service as read: its
// replicas (spec; groups for a LeaderWorkerSet) and how many are available and ready.
type Workload struct {
	Name      string
	Created   time.Time
	Replicas  int32
	Available int32
	Ready     int32
}

// Service is one worker service in a rollout: the replicas it asks for, its bounds, its new
// generation's workload (zero when not created yet) and the old generations' (any number: a
// change made during a rollout leaves two).
type Service struct {
	Name                     string
	Replicas                 int32
	MaxSurge, MaxUnavailable int32
	New                      Workload
	Old                      []Workload
}

// Targets are the replicas a step sets: the new generation's, and each old workload's by name.
type Targets struct {
	New int32
	Old map[string]int32
}

// Step is the original's replica calculation for one service (the Deployment controller's
// rule, counted over both generations): the old generations go down by what keeps at least
// replicas − maxUnavailable available — replicas that are not available go first — and the new
// one comes up by what keeps at most replicas + maxSurge declared, never above replicas.
func Step(s Service) Targets {
	var oldSpec, oldAvail int32
	for _, o := range s.Old {
		oldSpec += o.Replicas
		oldAvail += min(o.Replicas, o.Available)
	}
	newSpec, newAvail := s.New.Replicas, min(s.New.Replicas, s.New.Available)
	minAvailable := max(0, s.Replicas-s.MaxUnavailable)
	newUnavailable := max(0, newSpec-newAvail)
	// What may go: above minAvailable once the new generation's unavailable pods are counted
	// as not serving; of that, the old pods that do not serve anyway, and the surplus.
	maxScaledDown := max(0, oldSpec+newSpec-minAvailable-newUnavailable)
	oldUnhealthy := max(0, oldSpec-oldAvail)
	surplus := max(0, oldAvail+newAvail-minAvailable)
	oldTarget := max(0, oldSpec-min(maxScaledDown, oldUnhealthy+surplus))
	budget := max(0, s.Replicas+s.MaxSurge-oldSpec-newSpec)
	return Targets{New: min(s.Replicas, newSpec+budget), Old: splitOld(s.Old, oldTarget)}
}

// Updated reports whether a service has moved: its new generation has every replica ready and
// no old one has a ready replica (the original's test, per service).
func Updated(s Service) bool {
	if s.New.Ready < s.Replicas {
		return false
	}
	for _, o := range s.Old {
		if o.Ready > 0 {
			return false
		}
	}
	return true
}

// splitOld shares an old target among the old workloads as the original does: each starts at
// what it has available; above the target, the oldest give up theirs first; below it, the
// newest get back theirs first.
func splitOld(old []Workload, target int32) map[string]int32 {
	out := make(map[string]int32, len(old))
	byAge := append([]Workload(nil), old...)
	sort.SliceStable(byAge, func(i, j int) bool {
		if byAge[i].Created.Equal(byAge[j].Created) {
			return byAge[i].Name < byAge[j].Name
		}
		return byAge[i].Created.Before(byAge[j].Created)
	})
	var serving int32
	for _, o := range byAge {
		out[o.Name] = min(o.Replicas, max(0, o.Available))
		serving += out[o.Name]
	}
	for i := 0; serving > target && i < len(byAge); i++ { // oldest first
		cut := min(out[byAge[i].Name], serving-target)
		out[byAge[i].Name] -= cut
		serving -= cut
	}
	for i := len(byAge) - 1; serving < target && i >= 0; i-- { // newest first
		o := byAge[i]
		add := min(o.Replicas-out[o.Name], target-serving)
		out[o.Name] += add
		serving += add
	}
	return out
}

// Share resolves a partition — how much of a service's replicas may move to the new generation
// before the rollout holds (dynamo-infra.dev/rollout-partition: a number of replicas or a
// percentage, rounded up) — against its replicas. "" is no partition (all of them).
func Share(partition string, replicas int32) (int32, error) {
	if partition == "" {
		return replicas, nil
	}
	v := intstr.Parse(partition)
	n, err := intstr.GetScaledValueFromIntOrPercent(&v, int(replicas), true)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is neither a number of replicas nor a percentage", partition)
	}
	return int32(min(n, int(replicas))), nil
}

// Hold limits a step to newMax replicas in the new generation: the new one stops there, and
// the old one keeps the rest (it never goes below replicas − newMax; it is not scaled up).
func Hold(s Service, t Targets, newMax int32) Targets {
	t.New = min(t.New, newMax)
	if keep := s.Replicas - newMax; sumTargets(t.Old) < keep {
		t.Old = splitOld(s.Old, keep)
	}
	return t
}

// Paused is a step that changes nothing: every workload keeps its replicas.
func Paused(s Service) Targets {
	t := Targets{New: s.New.Replicas, Old: make(map[string]int32, len(s.Old))}
	for _, o := range s.Old {
		t.Old[o.Name] = o.Replicas
	}
	return t
}

func sumTargets(m map[string]int32) int32 {
	var n int32
	for _, v := range m {
		n += v
	}
	return n
}

// Coordinate keeps the worker services' new generations in step (ours; upstream rolls each
// service on its own, and lists coordination as future work): no service's new generation runs
// more than one surge (at least one replica) ahead of the share of its replicas the slowest
// service has ready on the new generation, and no old generation is drained below what that
// leaves it to serve. So a new prefill and a new decode come up together — never every decode
// new and no prefill — and a service whose new pods cannot start holds the others near it. The
// steps are each service's own (Step, Hold), capped.
func Coordinate(svcs []Service, steps []Targets) []Targets {
	if len(svcs) < 2 {
		return steps
	}
	ready := 1.0
	for _, s := range svcs {
		if s.Replicas > 0 {
			ready = min(ready, float64(min(s.New.Ready, s.Replicas))/float64(s.Replicas))
		}
	}
	out := make([]Targets, len(steps))
	for i, s := range svcs {
		lead := max(1, s.MaxSurge)
		// The replicas the slowest service's ready share is of this one, rounded up.
		share := int32(math.Ceil(ready*float64(s.Replicas) - 1e-9))
		out[i] = Hold(s, steps[i], min(s.Replicas, share+lead))
	}
	return out
}
