// Package restart decides each step of a graph restart (spec.restart), as the original operator
// does: a new spec.restart.id replaces the pods of every service, one service after the other
// (Sequential, in strategy.order or alphabetically) or all at once (Parallel), by writing the id
// into the service's nvidia.com/restartAt annotation, which its workloads' pod templates carry;
// status.restart records which services are in progress. Pure: the controller says which
// services have finished, asks Step and Annotations, renders the annotations.
package restart

import (
	"slices"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
)

// Order is the order a Sequential restart takes: strategy.order when given (the webhook holds
// it to every service once), else the services sorted by name.
func Order(spec *v1alpha1.Restart, services []string) []string {
	if spec != nil && spec.Strategy != nil && len(spec.Strategy.Order) > 0 {
		return spec.Strategy.Order
	}
	return slices.Sorted(slices.Values(services))
}

// Parallel reports a Parallel restart (Sequential is the default).
func Parallel(spec *v1alpha1.Restart) bool {
	return spec != nil && spec.Strategy != nil && spec.Strategy.Type == v1alpha1.RestartStrategyParallel
}

// Strategy names the restart's strategy: Parallel, or Sequential (the default).
func Strategy(spec *v1alpha1.Restart) string {
	if Parallel(spec) {
		return v1alpha1.RestartStrategyParallel
	}
	return v1alpha1.RestartStrategySequential
}

// finished: the restart of last has nothing more to do.
func finished(phase string) bool {
	return phase == v1alpha1.RestartPhaseCompleted || phase == v1alpha1.RestartPhaseFailed || phase == v1alpha1.RestartPhaseSuperseded
}

// Step is the restart's status after this pass. last is the status before; rolling, that a
// managed rolling update of the workers is Pending or InProgress (a new id is then Superseded:
// the rollout replaces the workers' pods, and two replacements at once would compound);
// done(service) that the service's workloads run the restart's id on every replica. As the
// original: a new id starts with the first service in order (Sequential) or every service
// (Parallel) and checks nothing yet; a service is checked in the pass after its annotation was
// applied. nil: no restart was ever asked for.
func Step(spec *v1alpha1.Restart, last *v1alpha1.RestartStatus, rolling bool, services []string, done func(string) bool) *v1alpha1.RestartStatus {
	if spec == nil || spec.ID == "" {
		// The last restart's record stays (its id keeps the pods' annotation as it is).
		if last != nil && finished(last.Phase) {
			return last.DeepCopy()
		}
		return nil
	}
	isNew := last == nil || last.ObservedID == "" || last.ObservedID != spec.ID
	if !isNew && finished(last.Phase) {
		return last.DeepCopy()
	}
	if rolling {
		return &v1alpha1.RestartStatus{ObservedID: spec.ID, Phase: v1alpha1.RestartPhaseSuperseded}
	}
	at := func(phase string, inProgress ...string) *v1alpha1.RestartStatus {
		return &v1alpha1.RestartStatus{ObservedID: spec.ID, Phase: phase, InProgress: inProgress}
	}
	if Parallel(spec) {
		check := slices.Sorted(slices.Values(services))
		if isNew {
			if len(check) == 0 {
				return at(v1alpha1.RestartPhaseCompleted)
			}
			return at(v1alpha1.RestartPhaseRestarting, check...)
		}
		if len(last.InProgress) > 0 {
			check = last.InProgress
		}
		var left []string
		for _, s := range check {
			if !done(s) {
				left = append(left, s)
			}
		}
		if len(left) == 0 {
			return at(v1alpha1.RestartPhaseCompleted)
		}
		return at(v1alpha1.RestartPhaseRestarting, left...)
	}
	order := Order(spec, services)
	if len(order) == 0 {
		return at(v1alpha1.RestartPhaseCompleted)
	}
	if isNew || len(last.InProgress) == 0 {
		return at(v1alpha1.RestartPhaseRestarting, order[0])
	}
	current := last.InProgress[0]
	if !done(current) {
		return at(v1alpha1.RestartPhaseRestarting, current)
	}
	i := slices.Index(order, current)
	switch {
	case i < 0: // the service left the order (renamed, removed): start over
		return at(v1alpha1.RestartPhaseRestarting, order[0])
	case i == len(order)-1:
		return at(v1alpha1.RestartPhaseCompleted)
	default:
		return at(v1alpha1.RestartPhaseRestarting, order[i+1])
	}
}

// Annotations are the nvidia.com/restartAt value each service's pods carry after this pass,
// given the status Step returned: the restart's id on the services it has reached (every one
// once Completed or Parallel; in a Sequential restart, those up to the one in progress), and on
// every other service what its workloads carry now (live; "" for none), so that a service is
// never restarted by a change of its annotation the restart did not ask for. A Superseded id is
// pushed nowhere.
func Annotations(spec *v1alpha1.Restart, st *v1alpha1.RestartStatus, services []string, live map[string]string) map[string]string {
	out := map[string]string{}
	for _, s := range services {
		if v := live[s]; v != "" {
			out[s] = v
		}
	}
	if st == nil {
		return out
	}
	mark := func(id string, which []string) {
		for _, s := range which {
			out[s] = id
		}
	}
	switch {
	case spec == nil || spec.ID == "":
		// The restart was taken off the spec: its id stays on the pods that have it.
		if st.ObservedID != "" && st.Phase != v1alpha1.RestartPhaseSuperseded {
			mark(st.ObservedID, services)
		}
	case st.ObservedID != spec.ID, st.Phase == v1alpha1.RestartPhaseSuperseded:
	case st.Phase == v1alpha1.RestartPhaseCompleted, Parallel(spec):
		mark(spec.ID, services)
	default:
		order := Order(spec, services)
		reached := 0
		for i, s := range order {
			if slices.Contains(st.InProgress, s) {
				reached = i + 1
			}
		}
		if len(st.InProgress) == 0 && len(order) > 0 {
			reached = 1
		}
		mark(spec.ID, order[:reached])
	}
	return out
}
