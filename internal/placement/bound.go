package placement

import "math"

// DefaultWork bounds what one Place or Search may do, in node visits (a node weighed for one
// pod). A graph's work is bounded by the cluster, never by its replica count: pods beyond what
// its candidate nodes could ever hold are not tried (capacityOn). 20 million visits of first fit
// took 1.6 s on one core here (BenchmarkPlaceBound); a graph of five services plans 2,000 nodes
// in about 10 ms (plan.BenchmarkBuild2000).
const DefaultWork = 20_000_000

// capacityOn is an upper bound of how many pods of d the allowed nodes could hold, each node
// alone: per node, the fewest of the pod's requests its free amounts cover, summed
// (math.MaxInt64 for a pod that asks for nothing: only the work budget bounds its placement).
// Inter-pod constraints only lower the real figure.
func capacityOn(allowed []int, free []map[string]int64, d Demand) int64 {
	var sum int64
	for _, i := range allowed {
		sum = AddSat(sum, room(free[i], d.Requests))
	}
	return sum
}

// room is how many pods asking req free could hold: the fewest any positive request allows
// (math.MaxInt64 when it asks for nothing).
func room(free, req map[string]int64) int64 {
	out := int64(math.MaxInt64)
	for r, q := range req {
		if q > 0 {
			out = min(out, max(free[r], 0)/q)
		}
	}
	return out
}

// pods is how many pods the demand asks for (replicas × group size, saturated).
func pods(d Demand) int64 { return MulSat(max(d.Replicas, 0), groupSize(d)) }

// AddSat is a+b for non-negative amounts, math.MaxInt64 where it would overflow.
func AddSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// MulSat is a×b for non-negative amounts, math.MaxInt64 where it would overflow.
func MulSat(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}
