// Package devices counts DRA devices for a plan: the devices ResourceSlices publish on each node
// that no ResourceClaim has allocated, and what a pod's claims ask for — each request of its
// ResourceClaimTemplates, a count of devices of a DeviceClass that match the class's and the
// request's CEL selectors (evaluated with the scheduler's own CEL environment). A request
// becomes a resource of the plan (Request.Resource) and each node's matching free devices its
// allocatable, so the planner places claims as it places GPUs. Pure.
//
// Not planned, and said so: claims by name (resourceClaimName: a claim shared or made before the
// pod), allocationMode All, devices of slices published for node selectors or all nodes,
// constraints between a claim's requests (matchAttribute), consumable capacity; a request that
// lists subrequests (firstAvailable) is planned as its first.
package devices

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	dracel "k8s.io/dynamic-resource-allocation/cel"

	"github.com/dynamo-infra/dynamo-infra/internal/placement"
)

// ResourcePrefix starts the plan's resource names of device requests.
const ResourcePrefix = "devices.dynamo-infra.dev/"

// Device is one device a ResourceSlice publishes for a node.
type Device struct {
	Driver, Pool, Name string
	Attributes         map[resourcev1.QualifiedName]resourcev1.DeviceAttribute
	Capacity           map[resourcev1.QualifiedName]resourcev1.DeviceCapacity
}

// Free returns, per node, the devices of the slices published for that node that no claim has
// allocated — but those of claims own says are the planned graph's (a change gives them back;
// nil: none); notes name what is not counted.
func Free(slicesList []resourcev1.ResourceSlice, claims []resourcev1.ResourceClaim, own func(*resourcev1.ResourceClaim) bool) (map[string][]Device, []string) {
	taken := map[string]bool{}
	for i := range claims {
		c := &claims[i]
		if own != nil && own(c) {
			continue
		}
		if a := c.Status.Allocation; a != nil {
			for _, r := range a.Devices.Results {
				taken[r.Driver+"/"+r.Pool+"/"+r.Device] = true
			}
		}
	}
	out := map[string][]Device{}
	var notes []string
	unplanned := 0
	for _, s := range slicesList {
		node := ptrString(s.Spec.NodeName)
		if node == "" {
			unplanned += len(s.Spec.Devices)
			continue
		}
		for _, d := range s.Spec.Devices {
			if taken[s.Spec.Driver+"/"+s.Spec.Pool.Name+"/"+d.Name] {
				continue
			}
			out[node] = append(out[node], Device{Driver: s.Spec.Driver, Pool: s.Spec.Pool.Name, Name: d.Name, Attributes: d.Attributes, Capacity: d.Capacity})
		}
	}
	if unplanned > 0 {
		notes = append(notes, fmt.Sprintf("%d DRA device(s) published for node selectors or all nodes are not planned", unplanned))
	}
	return out, notes
}

func ptrString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Request is what a pod asks of one device class: Count devices matching the class's and the
// request's selectors.
type Request struct {
	Class     string
	Selectors []string
	Count     int64
}

// Resource is the request's name as a resource of the plan: devices.dynamo-infra.dev/<class>,
// with a hash of the selectors when it has some (requests that match different devices are
// different resources).
func (r Request) Resource() string {
	if len(r.Selectors) == 0 {
		return ResourcePrefix + r.Class
	}
	h := sha256.Sum256([]byte(strings.Join(r.Selectors, "\x00")))
	return ResourcePrefix + r.Class + "-" + hex.EncodeToString(h[:4])
}

// Requests reads what a pod's claims ask for, summed per Resource: each device request of the
// ResourceClaimTemplates its resourceClaims name (template finds one by name; false: not found).
func Requests(spec *corev1.PodSpec, template func(name string) (*resourcev1.ResourceClaimTemplate, bool)) ([]Request, []string) {
	byResource := map[string]*Request{}
	var order []string
	var notes []string
	for _, pc := range spec.ResourceClaims {
		switch {
		case pc.ResourceClaimName != nil:
			notes = append(notes, fmt.Sprintf("claim %s names ResourceClaim %s: a claim made before the pod is not planned", pc.Name, *pc.ResourceClaimName))
			continue
		case pc.ResourceClaimTemplateName == nil:
			continue
		}
		t, ok := template(*pc.ResourceClaimTemplateName)
		if !ok {
			notes = append(notes, fmt.Sprintf("claim %s: ResourceClaimTemplate %s not found: its devices are not planned", pc.Name, *pc.ResourceClaimTemplateName))
			continue
		}
		for _, dr := range t.Spec.Spec.Devices.Requests {
			var class string
			var selectors []resourcev1.DeviceSelector
			var mode resourcev1.DeviceAllocationMode
			var count int64
			switch {
			case dr.Exactly != nil:
				class, selectors, mode, count = dr.Exactly.DeviceClassName, dr.Exactly.Selectors, dr.Exactly.AllocationMode, dr.Exactly.Count
			case len(dr.FirstAvailable) > 0:
				f := dr.FirstAvailable[0]
				class, selectors, mode, count = f.DeviceClassName, f.Selectors, f.AllocationMode, f.Count
				notes = append(notes, fmt.Sprintf("claim %s request %s: planned as its first subrequest (%s)", pc.Name, dr.Name, f.Name))
			default:
				continue
			}
			if mode == resourcev1.DeviceAllocationModeAll {
				notes = append(notes, fmt.Sprintf("claim %s request %s asks for all matching devices: not planned", pc.Name, dr.Name))
				continue
			}
			if count <= 0 {
				count = 1
			}
			r := Request{Class: class, Count: count}
			for _, s := range selectors {
				if s.CEL != nil {
					r.Selectors = append(r.Selectors, s.CEL.Expression)
				}
			}
			key := r.Resource()
			if have, ok := byResource[key]; ok {
				have.Count += r.Count
				continue
			}
			byResource[key] = &r
			order = append(order, key)
		}
	}
	out := make([]Request, 0, len(order))
	for _, k := range order {
		out = append(out, *byResource[k])
	}
	return out, notes
}

// Matcher counts the devices a request may be given: those of its class's selectors and its
// own, each expression compiled once.
type Matcher struct {
	classes  map[string]resourcev1.DeviceClass
	compiled map[string]dracel.CompilationResult
}

// NewMatcher matches against the cluster's device classes.
func NewMatcher(classes []resourcev1.DeviceClass) *Matcher {
	m := &Matcher{classes: map[string]resourcev1.DeviceClass{}, compiled: map[string]dracel.CompilationResult{}}
	for _, c := range classes {
		m.classes[c.Name] = c
	}
	return m
}

// Count is how many of devs r may be given. A class that does not exist matches nothing (the
// scheduler cannot allocate it either); an expression that does not compile or fails is an error.
func (m *Matcher) Count(ctx context.Context, devs []Device, r Request) (int64, error) {
	class, ok := m.classes[r.Class]
	if !ok {
		return 0, nil
	}
	exprs := slices.Clone(r.Selectors)
	for _, s := range class.Spec.Selectors {
		if s.CEL != nil {
			exprs = append(exprs, s.CEL.Expression)
		}
	}
	var n int64
	for _, d := range devs {
		ok := true
		for _, e := range exprs {
			match, err := m.matches(ctx, e, d)
			if err != nil {
				return 0, err
			}
			if !match {
				ok = false
				break
			}
		}
		if ok {
			n++
		}
	}
	return n, nil
}

func (m *Matcher) matches(ctx context.Context, expr string, d Device) (bool, error) {
	c, ok := m.compiled[expr]
	if !ok {
		c = dracel.GetCompiler(dracel.Features{}).CompileCELExpression(expr, dracel.Options{})
		m.compiled[expr] = c
	}
	if c.Error != nil {
		return false, fmt.Errorf("selector %q: %w", expr, c.Error)
	}
	match, _, err := c.DeviceMatches(ctx, dracel.Device{Driver: d.Driver, Attributes: d.Attributes, Capacity: d.Capacity})
	if err != nil {
		return false, fmt.Errorf("selector %q on device %s/%s: %w", expr, d.Pool, d.Name, err)
	}
	return match, nil
}

// Objects are the cluster's DRA objects a plan reads.
type Objects struct {
	// Templates are the ResourceClaimTemplates of the graph's namespace.
	Templates []resourcev1.ResourceClaimTemplate
	Slices    []resourcev1.ResourceSlice
	// Claims are every namespace's claims: the devices they hold are not free.
	Claims  []resourcev1.ResourceClaim
	Classes []resourcev1.DeviceClass
	// Own says which claims are the planned graph's pods' (OwnedByPods): a change gives their
	// devices back. nil: none.
	Own func(*resourcev1.ResourceClaim) bool
	// Notes say what could not be read (DRA not served, a list forbidden): the claims are
	// then not planned.
	Notes []string
}

// WithTemplates lays templates over the namespace's (by name): those a graph renders (a GPU
// Memory Service's) are what its pods will claim from, applied or not yet.
func (o *Objects) WithTemplates(templates []*resourcev1.ResourceClaimTemplate) {
	for _, t := range templates {
		if i := slices.IndexFunc(o.Templates, func(have resourcev1.ResourceClaimTemplate) bool { return have.Name == t.Name }); i >= 0 {
			o.Templates[i] = *t
		} else {
			o.Templates = append(o.Templates, *t)
		}
	}
}

// HasClaims reports whether some demand's pod has resourceClaims: only then are the objects
// read.
func HasClaims(demands []placement.Demand) bool {
	for _, d := range demands {
		if d.Pod != nil && len(d.Pod.ResourceClaims) > 0 {
			return true
		}
	}
	return false
}

// Apply plans the demands' claims: each demand whose pod has resourceClaims asks, per device
// request of its templates, for a resource of the plan (Request.Resource) — demands are changed
// in place — and each node gets as allocatable of it the free devices of its slices the request
// may be given. nodes is not changed: the nodes returned are copies where they differ. Notes say
// what is not planned.
func Apply(ctx context.Context, o Objects, demands []placement.Demand, nodes []corev1.Node) ([]corev1.Node, []string, error) {
	notes := slices.Clone(o.Notes)
	if len(o.Notes) > 0 {
		return nodes, notes, nil
	}
	byName := map[string]*resourcev1.ResourceClaimTemplate{}
	for i := range o.Templates {
		byName[o.Templates[i].Name] = &o.Templates[i]
	}
	lookup := func(name string) (*resourcev1.ResourceClaimTemplate, bool) { t, ok := byName[name]; return t, ok }
	free, n := Free(o.Slices, o.Claims, o.Own)
	notes = append(notes, n...)
	wanted := map[string]Request{}
	for i := range demands {
		if demands[i].Pod == nil {
			continue
		}
		reqs, n := Requests(demands[i].Pod, lookup)
		for _, note := range n {
			notes = append(notes, demands[i].Service+": "+note)
		}
		if len(reqs) == 0 {
			continue
		}
		r := maps.Clone(demands[i].Requests)
		for _, req := range reqs {
			r[req.Resource()] += req.Count
			wanted[req.Resource()] = req
		}
		demands[i].Requests = r
	}
	if len(wanted) == 0 {
		return nodes, notes, nil
	}
	m := NewMatcher(o.Classes)
	out := slices.Clone(nodes)
	for i := range out {
		alloc := out[i].Status.Allocatable.DeepCopy()
		if alloc == nil {
			alloc = corev1.ResourceList{}
		}
		for name, req := range wanted {
			count, err := m.Count(ctx, free[out[i].Name], req)
			if err != nil {
				return nil, nil, err
			}
			alloc[corev1.ResourceName(name)] = *resource.NewQuantity(count, resource.DecimalSI)
		}
		out[i].Status.Allocatable = alloc
	}
	return out, notes, nil
}

// OwnedByPods says whether a claim belongs to one of the named pods of namespace ns (the claims
// the resourceclaim controller makes from a pod's templates are owned by the pod).
func OwnedByPods(ns string, pods map[string]bool) func(*resourcev1.ResourceClaim) bool {
	return func(c *resourcev1.ResourceClaim) bool {
		if c.Namespace != ns {
			return false
		}
		for _, o := range c.OwnerReferences {
			if o.Kind == "Pod" && pods[o.Name] {
				return true
			}
		}
		return false
	}
}
