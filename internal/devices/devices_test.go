package devices

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func gpuSlice(node string, products ...string) resourcev1.ResourceSlice {
	s := resourcev1.ResourceSlice{Spec: resourcev1.ResourceSliceSpec{Driver: "gpu.nvidia.com", NodeName: ptr.To(node),
		Pool: resourcev1.ResourcePool{Name: node, ResourceSliceCount: 1}}}
	for i, p := range products {
		s.Spec.Devices = append(s.Spec.Devices, resourcev1.Device{Name: "gpu-" + string(rune('0'+i)), Attributes: map[resourcev1.QualifiedName]resourcev1.DeviceAttribute{
			"type": {StringValue: ptr.To("gpu")}, "productName": {StringValue: ptr.To(p)}}})
	}
	return s
}

// Devices of a node's slices count unless a claim has them; slices for node selectors or all
// nodes are said not to be planned.
func TestFree(t *testing.T) {
	claim := resourcev1.ResourceClaim{Status: resourcev1.ResourceClaimStatus{Allocation: &resourcev1.AllocationResult{
		Devices: resourcev1.DeviceAllocationResult{Results: []resourcev1.DeviceRequestAllocationResult{{Driver: "gpu.nvidia.com", Pool: "a", Device: "gpu-0"}}}}}}
	shared := resourcev1.ResourceSlice{Spec: resourcev1.ResourceSliceSpec{Driver: "x", AllNodes: ptr.To(true), Devices: []resourcev1.Device{{Name: "d"}}}}
	free, notes := Free([]resourcev1.ResourceSlice{gpuSlice("a", "H100", "H100"), gpuSlice("b", "H100"), shared}, []resourcev1.ResourceClaim{claim}, nil)
	if len(free["a"]) != 1 || free["a"][0].Name != "gpu-1" || len(free["b"]) != 1 {
		t.Errorf("free: %+v", free)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "1 DRA device(s) published for node selectors or all nodes") {
		t.Errorf("notes: %v", notes)
	}
	// A change gives the graph's own claims back.
	claim.Namespace = "ns"
	claim.OwnerReferences = []metav1.OwnerReference{{Kind: "Pod", Name: "g-decode-1"}}
	free, _ = Free([]resourcev1.ResourceSlice{gpuSlice("a", "H100", "H100")}, []resourcev1.ResourceClaim{claim}, OwnedByPods("ns", map[string]bool{"g-decode-1": true}))
	if len(free["a"]) != 2 {
		t.Errorf("own claim not given back: %+v", free)
	}
}

// A pod's template claims sum per class and selectors; claims by name, All and missing
// templates are said, not planned.
func TestRequests(t *testing.T) {
	tmpl := func(reqs ...resourcev1.DeviceRequest) *resourcev1.ResourceClaimTemplate {
		return &resourcev1.ResourceClaimTemplate{Spec: resourcev1.ResourceClaimTemplateSpec{Spec: resourcev1.ResourceClaimSpec{Devices: resourcev1.DeviceClaim{Requests: reqs}}}}
	}
	templates := map[string]*resourcev1.ResourceClaimTemplate{
		"four": tmpl(resourcev1.DeviceRequest{Name: "g", Exactly: &resourcev1.ExactDeviceRequest{DeviceClassName: "gpu.nvidia.com", Count: 4}}),
		"one-h100": tmpl(resourcev1.DeviceRequest{Name: "g", Exactly: &resourcev1.ExactDeviceRequest{DeviceClassName: "gpu.nvidia.com",
			Selectors: []resourcev1.DeviceSelector{{CEL: &resourcev1.CELDeviceSelector{Expression: `device.attributes["gpu.nvidia.com"].productName == "H100"`}}}}}),
		"all":   tmpl(resourcev1.DeviceRequest{Name: "g", Exactly: &resourcev1.ExactDeviceRequest{DeviceClassName: "gpu.nvidia.com", AllocationMode: resourcev1.DeviceAllocationModeAll}}),
		"first": tmpl(resourcev1.DeviceRequest{Name: "g", FirstAvailable: []resourcev1.DeviceSubRequest{{Name: "big", DeviceClassName: "gpu.nvidia.com", Count: 2}, {Name: "small", DeviceClassName: "gpu.nvidia.com"}}}),
	}
	lookup := func(n string) (*resourcev1.ResourceClaimTemplate, bool) { t, ok := templates[n]; return t, ok }
	spec := &corev1.PodSpec{ResourceClaims: []corev1.PodResourceClaim{
		{Name: "a", ResourceClaimTemplateName: ptr.To("four")}, {Name: "b", ResourceClaimTemplateName: ptr.To("first")},
		{Name: "c", ResourceClaimTemplateName: ptr.To("one-h100")}, {Name: "d", ResourceClaimTemplateName: ptr.To("all")},
		{Name: "e", ResourceClaimName: ptr.To("shared")}, {Name: "f", ResourceClaimTemplateName: ptr.To("missing")},
	}}
	reqs, notes := Requests(spec, lookup)
	if len(reqs) != 2 || reqs[0].Resource() != "devices.dynamo-infra.dev/gpu.nvidia.com" || reqs[0].Count != 6 ||
		len(reqs[1].Selectors) != 1 || reqs[1].Count != 1 || reqs[1].Resource() == reqs[0].Resource() {
		t.Errorf("requests: %+v", reqs)
	}
	for _, want := range []string{"first subrequest (big)", "all matching devices", "ResourceClaim shared", "missing not found"} {
		if !strings.Contains(strings.Join(notes, "\n"), want) {
			t.Errorf("notes %v lack %q", notes, want)
		}
	}
}

// Devices match the class's selectors and the request's, as the scheduler's CEL reads them.
func TestMatcher(t *testing.T) {
	class := resourcev1.DeviceClass{ObjectMeta: metav1.ObjectMeta{Name: "gpu.nvidia.com"}, Spec: resourcev1.DeviceClassSpec{
		Selectors: []resourcev1.DeviceSelector{{CEL: &resourcev1.CELDeviceSelector{Expression: `device.driver == "gpu.nvidia.com" && device.attributes["gpu.nvidia.com"].type == "gpu"`}}}}}
	free, _ := Free([]resourcev1.ResourceSlice{gpuSlice("a", "H100", "A100", "H100")}, nil, nil)
	m := NewMatcher([]resourcev1.DeviceClass{class})
	ctx := context.Background()
	for _, tt := range []struct {
		r    Request
		want int64
	}{
		{Request{Class: "gpu.nvidia.com"}, 3},
		{Request{Class: "gpu.nvidia.com", Selectors: []string{`device.attributes["gpu.nvidia.com"].productName == "H100"`}}, 2},
		{Request{Class: "missing"}, 0},
	} {
		if got, err := m.Count(ctx, free["a"], tt.r); err != nil || got != tt.want {
			t.Errorf("%+v: %d %v, want %d", tt.r, got, err, tt.want)
		}
	}
	if _, err := m.Count(ctx, free["a"], Request{Class: "gpu.nvidia.com", Selectors: []string{"device.driver =="}}); err == nil {
		t.Error("an expression that does not compile is no error")
	}
}
