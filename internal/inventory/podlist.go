package inventory

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/pager"

	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

// streamPageSize is the number of objects per streamed LIST page. Pages are read as they arrive, one object at
// a time, so their size costs no memory here; larger pages mean fewer requests for the API server
// to serve (docs/benchmarks.md).
const streamPageSize = 5000

// ListPodUsage lists the active pods of every namespace page by page and keeps only their
// node and NVIDIA requests (FoldActivePods, NVIDIA resources only, through PodUsageOf).
func ListPodUsage(ctx context.Context, cs kubernetes.Interface) ([]PodUsage, error) {
	return FoldActivePods(ctx, cs, false, func() []PodUsage { return nil }, addUsage)
}

// addUsage adds the pod's NVIDIA usage, if it has one.
func addUsage(usage []PodUsage, p *corev1.Pod) []PodUsage {
	if u, ok := PodUsageOf(p); ok {
		usage = append(usage, u)
	}
	return usage
}

// FoldActivePods lists the active pods of every namespace page by page and folds each into an
// accumulator (start's value, again from start when a listing must begin anew).
//
// Pages are asked for in protobuf and read from the response as it arrives, pod by pod: of each
// pod only the fields the scheduler's request sum reads (node, phase, the containers' and init
// containers' requests and limits, sidecar restart policies, overhead) are decoded, into a
// skeleton Pod reused from pod to pod — with all, of every resource and every pod; without, of
// NVIDIA resources only and only pods naming one (a pod without costs no allocation). The next
// page is asked for as soon as a page's continue token is read (it comes before the pods). A
// client without a REST client (a fake) folds the typed pods.
func FoldActivePods[T any](ctx context.Context, cs kubernetes.Interface, all bool, start func() T, fold func(T, *corev1.Pod) T) (T, error) {
	typed := func() (T, error) {
		acc := start()
		err := eachTyped(ctx, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, opts)
		}, ActivePodsSelector, func(obj runtime.Object) { acc = fold(acc, obj.(*corev1.Pod)) })
		return acc, err
	}
	acc, err := foldStream(ctx, cs, "pods", ActivePodsSelector, start, func(acc *T) listReader { return podListReader(all, acc, fold) }, typed)
	if err != nil {
		return acc, fmt.Errorf("list pods: %w", err)
	}
	return acc, nil
}

// FoldNodes lists the nodes page by page and folds each into an accumulator, as FoldActivePods
// folds pods: of each node only its name, labels, taints, cordon, Ready condition (type and
// status), capacity and allocatable are decoded — what a capacity view or a plan reads of it.
// The Node is reused from node to node: its labels map is cleared for the next one; its taints
// and resource lists are its own (fold may keep them).
func FoldNodes[T any](ctx context.Context, cs kubernetes.Interface, start func() T, fold func(T, *corev1.Node) T) (T, error) {
	typed := func() (T, error) {
		acc := start()
		err := eachTyped(ctx, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return cs.CoreV1().Nodes().List(ctx, opts)
		}, "", func(obj runtime.Object) { acc = fold(acc, obj.(*corev1.Node)) })
		return acc, err
	}
	acc, err := foldStream(ctx, cs, "nodes", "", start, func(acc *T) listReader { return nodeListReader(acc, fold) }, typed)
	if err != nil {
		return acc, fmt.Errorf("list nodes: %w", err)
	}
	return acc, nil
}

// podListReader folds the pods of LIST responses into acc: skeletons of protobuf items
// (skeletonReader), typed pods of a JSON answer.
func podListReader[T any](all bool, acc *T, fold func(T, *corev1.Pod) T) listReader {
	r := &skeletonReader{all: all}
	return listReader{
		item: func(raw []byte) error {
			if err := r.read(raw); err != nil {
				return fmt.Errorf("pod: %w", err)
			}
			if r.kept {
				*acc = fold(*acc, &r.pod)
			}
			return nil
		},
		json: func(in io.Reader, onContinue func(string)) error {
			return fromJSON(in, onContinue, &corev1.PodList{}, func(o runtime.Object) { *acc = fold(*acc, o.(*corev1.Pod)) })
		},
	}
}

// nodeListReader folds the nodes of LIST responses into acc: skeletons of protobuf items
// (nodeReader), typed nodes of a JSON answer.
func nodeListReader[T any](acc *T, fold func(T, *corev1.Node) T) listReader {
	r := &nodeReader{}
	return listReader{
		item: func(raw []byte) error {
			if err := r.read(raw); err != nil {
				return fmt.Errorf("node: %w", err)
			}
			*acc = fold(*acc, &r.node)
			return nil
		},
		json: func(in io.Reader, onContinue func(string)) error {
			return fromJSON(in, onContinue, &corev1.NodeList{}, func(o runtime.Object) { *acc = fold(*acc, o.(*corev1.Node)) })
		},
	}
}

// fromJSON reads a whole JSON list answer into list, then gives its continue token to onContinue
// and each of its items to each.
func fromJSON(in io.Reader, onContinue func(string), list runtime.Object, each func(runtime.Object)) error {
	if err := json.NewDecoder(in).Decode(list); err != nil {
		return fmt.Errorf("decode list: %w", err)
	}
	m, err := meta.ListAccessor(list)
	if err != nil {
		return err
	}
	onContinue(m.GetContinue())
	return meta.EachListItem(list, func(o runtime.Object) error {
		each(o)
		return nil
	})
}

// foldStream streams resource's LIST through the reader that reading makes for an accumulator;
// a client without a REST client, or a continue token the server no longer serves, lists
// through typed instead (from start again).
func foldStream[T any](ctx context.Context, cs kubernetes.Interface, resource, fieldSelector string, start func() T,
	reading func(acc *T) listReader, typed func() (T, error)) (T, error) {
	rc, ok := cs.CoreV1().RESTClient().(*rest.RESTClient)
	if !ok || rc == nil {
		return typed()
	}
	acc := start()
	err := streamList(ctx, rc, resource, fieldSelector, reading(&acc))
	if isExpired(err) {
		// A continue token outlived the server's snapshot: the pager lists again, whole.
		return typed()
	}
	return acc, err
}

// eachTyped lists through the typed client, page by page.
func eachTyped(ctx context.Context, list pager.ListPageFunc, fieldSelector string, each func(runtime.Object)) error {
	p := pager.New(list)
	p.PageSize, p.PageBufferSize = streamPageSize, 1
	return p.EachListItem(ctx, metav1.ListOptions{FieldSelector: fieldSelector}, func(obj runtime.Object) error {
		each(obj)
		return nil
	})
}

// response is one LIST response being received, or the error of asking for it.
type response struct {
	body io.ReadCloser
	err  error
}

// listReader reads the items of LIST responses: item gets each item's protobuf message (its bytes
// valid until the next call), json a whole response the server wrote in JSON.
type listReader struct {
	item func(raw []byte) error
	json func(in io.Reader, onContinue func(string)) error
}

// streamList asks for resource (of every namespace) page by page, in protobuf, and reads each
// response with r as it arrives, asking for the next page as soon as the continue token is read.
func streamList(ctx context.Context, rc *rest.RESTClient, resource, fieldSelector string, r listReader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ask := func(cont string) chan response {
		ch := make(chan response, 1)
		go func() {
			req := rc.Get().Resource(resource).
				Param("limit", strconv.Itoa(streamPageSize)).
				Param("continue", cont).
				SetHeader("Accept", runtime.ContentTypeProtobuf+", "+runtime.ContentTypeJSON)
			if fieldSelector != "" {
				req = req.Param("fieldSelector", fieldSelector)
			}
			body, err := req.Stream(ctx)
			ch <- response{body, err}
		}()
		return ch
	}
	in := bufio.NewReaderSize(nil, 64<<10)
	cur := ask("")
	for {
		resp := <-cur
		if resp.err != nil {
			return resp.err
		}
		var next chan response
		in.Reset(resp.body)
		err := readList(in, func(cont string) {
			if cont != "" && next == nil {
				next = ask(cont)
			}
		}, r)
		resp.body.Close()
		if err != nil {
			if next != nil {
				// Nobody will read it: close it once it comes (cancel ends it sooner).
				go func() {
					if resp := <-next; resp.body != nil {
						resp.body.Close()
					}
				}()
			}
			return err
		}
		if next == nil {
			return nil
		}
		cur = next
	}
}

// protobufMagic starts every protobuf-encoded Kubernetes object (runtime.Unknown follows).
var protobufMagic = []byte{0x6b, 0x38, 0x73, 0x00}

// readList reads one LIST response: a list in protobuf (or, from a server that answered JSON,
// in JSON). onContinue gets the list's continue token when it is read, r.item each item.
func readList(in *bufio.Reader, onContinue func(string), r listReader) error {
	head, err := in.Peek(len(protobufMagic))
	if err != nil || !bytes.Equal(head, protobufMagic) {
		return r.json(in, onContinue)
	}
	_, _ = in.Discard(len(protobufMagic))
	// runtime.Unknown, to the end of the response; its field 2 holds the list.
	envelope := protoReader{in: in, left: math.MaxInt64}
	for {
		num, typ, err := envelope.tag()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("decode list envelope: %w", err)
		}
		if num != unknownRaw || typ != protowire.BytesType {
			if err := envelope.skip(num, typ); err != nil {
				return fmt.Errorf("decode list envelope: %w", err)
			}
			continue
		}
		n, err := envelope.length()
		if err != nil {
			return fmt.Errorf("decode list envelope: %w", err)
		}
		list := protoReader{in: in, left: n}
		if err := list.list(onContinue, r.item); err != nil {
			return fmt.Errorf("decode list: %w", err)
		}
		envelope.left -= n
	}
}

// protoReader reads the fields of one protobuf message of left bytes from a stream.
type protoReader struct {
	in   *bufio.Reader
	left int64
	buf  []byte
}

// list reads a list (PodList, NodeList, …): 1 ListMeta (3: continue), 2 repeated items.
func (p *protoReader) list(onContinue func(string), item func([]byte) error) error {
	for p.left > 0 {
		num, typ, err := p.tag()
		if err != nil {
			return unexpectedEOF(err)
		}
		if typ != protowire.BytesType || (num != listMeta && num != listItems) {
			if err := p.skip(num, typ); err != nil {
				return err
			}
			continue
		}
		msg, err := p.bytes()
		if err != nil {
			return err
		}
		if num == listMeta {
			cont := ""
			if err := eachField(msg, func(n protowire.Number, t protowire.Type, s []byte, _ uint64) {
				if n == listMetaContinue && t == protowire.BytesType {
					cont = string(s)
				}
			}); err != nil {
				return err
			}
			onContinue(cont)
			continue
		}
		if err := item(msg); err != nil {
			return err
		}
	}
	return nil
}

func (p *protoReader) varint() (uint64, error) {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if p.left <= 0 || shift > 63 {
			return 0, errors.New("malformed varint")
		}
		b, err := p.in.ReadByte()
		if err != nil {
			return 0, err
		}
		p.left--
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, nil
		}
	}
}

// tag reads a field's number and wire type; io.EOF at a clean end of the stream.
func (p *protoReader) tag() (protowire.Number, protowire.Type, error) {
	v, err := p.varint()
	if err != nil {
		return 0, 0, err
	}
	return protowire.Number(v >> 3), protowire.Type(v & 7), nil
}

func (p *protoReader) length() (int64, error) {
	n, err := p.varint()
	if err != nil {
		return 0, unexpectedEOF(err)
	}
	if n > uint64(p.left) {
		return 0, io.ErrUnexpectedEOF
	}
	return int64(n), nil
}

// bytes reads a length-delimited field's bytes into a buffer the next call reuses.
func (p *protoReader) bytes() ([]byte, error) {
	n, err := p.length()
	if err != nil {
		return nil, err
	}
	p.buf = slices.Grow(p.buf[:0], int(n))[:n]
	if _, err := io.ReadFull(p.in, p.buf); err != nil {
		return nil, unexpectedEOF(err)
	}
	p.left -= n
	return p.buf, nil
}

func (p *protoReader) skip(num protowire.Number, typ protowire.Type) error {
	var n int64
	switch typ {
	case protowire.VarintType:
		_, err := p.varint()
		return unexpectedEOF(err)
	case protowire.Fixed32Type:
		n = 4
	case protowire.Fixed64Type:
		n = 8
	case protowire.BytesType:
		var err error
		if n, err = p.length(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("field %d: unsupported wire type %d", num, typ)
	}
	if n > p.left {
		return io.ErrUnexpectedEOF
	}
	if _, err := p.in.Discard(int(n)); err != nil {
		return unexpectedEOF(err)
	}
	p.left -= n
	return nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Field numbers of k8s.io/api/core/v1's generated.proto (stable: the API's protobuf tags never
// change). TestSkeletonPodMatchesTyped checks the skeleton against the typed decoder.
const (
	unknownRaw, listMeta, listItems, listMetaContinue = 2, 1, 2, 3
	podSpec, podStatus                                = 2, 3
	specContainers, specNodeName                      = 2, 10
	specInitContainers, specOverhead                  = 20, 32
	specResources                                     = 40
	containerResources, containerRestartPolicy        = 8, 24
	resourcesLimits, resourcesRequests                = 1, 2
	statusPhase                                       = 1
	mapKey, mapValue, quantityString                  = 1, 2, 1
)

// skeletonReader decodes from Pod messages only what the scheduler's request sum reads: the node,
// the phase, containers' and init containers' requests and limits and restart policies, the
// overhead — of every resource with all, else of NVIDIA resources only (requests are summed per
// resource, so leaving the others out changes no NVIDIA sum). One Pod is reused from item to
// item.
type skeletonReader struct {
	all bool
	pod corev1.Pod
	// kept is whether the last pod read is passed on: always with all, else when it names an
	// NVIDIA resource anywhere.
	kept bool
	err  error
}

func (r *skeletonReader) read(raw []byte) error {
	// Keep the slices' arrays: most pods have as many containers as the one before.
	containers, inits := r.pod.Spec.Containers[:0], r.pod.Spec.InitContainers[:0]
	r.pod = corev1.Pod{Spec: corev1.PodSpec{Containers: containers, InitContainers: inits}}
	r.kept, r.err = r.all, nil
	err := eachField(raw, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) {
		if typ != protowire.BytesType || r.err != nil {
			return
		}
		switch num {
		case podSpec:
			r.err = eachField(v, r.specField)
		case podStatus:
			r.err = eachField(v, func(n protowire.Number, t protowire.Type, s []byte, _ uint64) {
				if n == statusPhase && t == protowire.BytesType {
					r.pod.Status.Phase = corev1.PodPhase(s)
				}
			})
		}
	})
	return errors.Join(err, r.err)
}

func (r *skeletonReader) specField(num protowire.Number, typ protowire.Type, v []byte, _ uint64) {
	if typ != protowire.BytesType || r.err != nil {
		return
	}
	spec := &r.pod.Spec
	switch num {
	case specNodeName:
		spec.NodeName = string(v)
	case specContainers:
		spec.Containers = append(spec.Containers, corev1.Container{})
		r.err = r.container(v, &spec.Containers[len(spec.Containers)-1])
	case specInitContainers:
		spec.InitContainers = append(spec.InitContainers, corev1.Container{})
		r.err = r.container(v, &spec.InitContainers[len(spec.InitContainers)-1])
	case specOverhead:
		spec.Overhead, r.err = r.quantityEntry(v, spec.Overhead)
	case specResources:
		// Pod-level resources (CPU and memory only): they replace the containers' sum.
		if spec.Resources == nil {
			spec.Resources = &corev1.ResourceRequirements{}
		}
		r.err = r.requirements(v, spec.Resources)
	}
}

func (r *skeletonReader) container(raw []byte, c *corev1.Container) error {
	var err error
	ferr := eachField(raw, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) {
		if typ != protowire.BytesType || err != nil {
			return
		}
		switch num {
		case containerRestartPolicy:
			p := corev1.ContainerRestartPolicy(v)
			c.RestartPolicy = &p
		case containerResources:
			err = r.requirements(v, &c.Resources)
		}
	})
	return errors.Join(ferr, err)
}

// requirements reads a ResourceRequirements message's kept limits and requests into rr.
func (r *skeletonReader) requirements(raw []byte, rr *corev1.ResourceRequirements) error {
	var err error
	ferr := eachField(raw, func(n protowire.Number, t protowire.Type, s []byte, _ uint64) {
		if t != protowire.BytesType || err != nil {
			return
		}
		switch n {
		case resourcesLimits:
			rr.Limits, err = r.quantityEntry(s, rr.Limits)
		case resourcesRequests:
			rr.Requests, err = r.quantityEntry(s, rr.Requests)
		}
	})
	return errors.Join(ferr, err)
}

// quantityEntry adds one map entry (key, Quantity) to l when its key is kept: every resource
// with all, else an NVIDIA one.
func (r *skeletonReader) quantityEntry(raw []byte, l corev1.ResourceList) (corev1.ResourceList, error) {
	return quantityEntry(raw, l, func(key []byte) bool {
		if r.all || bytes.HasPrefix(key, nvidiaPrefix) {
			r.kept = true
			return true
		}
		return false
	})
}

// quantityEntry adds one map entry (key, Quantity) to l (made when nil) when keep says so of its
// key (nil: every key).
func quantityEntry(raw []byte, l corev1.ResourceList, keep func(key []byte) bool) (corev1.ResourceList, error) {
	var key, value []byte
	err := eachField(raw, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) {
		switch {
		case num == mapKey && typ == protowire.BytesType:
			key = v
		case num == mapValue && typ == protowire.BytesType:
			value = v
		}
	})
	if err != nil || keep != nil && !keep(key) {
		return l, err
	}
	var text []byte
	if err := eachField(value, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) {
		if num == quantityString && typ == protowire.BytesType {
			text = v
		}
	}); err != nil {
		return l, err
	}
	q, err := resource.ParseQuantity(string(text))
	if err != nil {
		return l, fmt.Errorf("resource %s: %w", key, err)
	}
	if l == nil {
		l = corev1.ResourceList{}
	}
	l[corev1.ResourceName(key)] = q
	return l, nil
}

var nvidiaPrefix = []byte(nvidia.Prefix)

// Field numbers of Node messages (k8s.io/api/core/v1 and apimachinery's meta/v1 generated.proto).
// TestSkeletonNodeMatchesTyped checks them against the typed decoder.
const (
	nodeMeta, nodeSpec, nodeStatus    = 1, 2, 3
	metaName, metaLabels              = 1, 11
	specUnschedulable, specTaints     = 4, 5
	taintKey, taintValue, taintEffect = 1, 2, 3
	statusCapacity, statusAllocatable = 1, 2
	statusConditions                  = 4
	conditionType, conditionStatus    = 1, 2
)

// nodeReader decodes from Node messages what a capacity view or a plan reads: name, labels,
// taints (key, value, effect), cordon, the Ready condition's type and status, capacity and
// allocatable. One Node is reused from item to item: its labels map is cleared, its taints and
// resource lists are made anew.
type nodeReader struct {
	node corev1.Node
	err  error
}

func (r *nodeReader) read(raw []byte) error {
	labels := r.node.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	clear(labels)
	r.node, r.err = corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: labels}}, nil
	err := eachField(raw, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) {
		if typ != protowire.BytesType || r.err != nil {
			return
		}
		switch num {
		case nodeMeta:
			r.err = eachField(v, r.metaField)
		case nodeSpec:
			r.err = eachField(v, r.specField)
		case nodeStatus:
			r.err = eachField(v, r.statusField)
		}
	})
	return errors.Join(err, r.err)
}

func (r *nodeReader) metaField(num protowire.Number, typ protowire.Type, v []byte, _ uint64) {
	if typ != protowire.BytesType || r.err != nil {
		return
	}
	switch num {
	case metaName:
		r.node.Name = string(v)
	case metaLabels:
		var key, value []byte
		r.err = eachField(v, func(n protowire.Number, t protowire.Type, s []byte, _ uint64) {
			switch {
			case n == mapKey && t == protowire.BytesType:
				key = s
			case n == mapValue && t == protowire.BytesType:
				value = s
			}
		})
		r.node.Labels[string(key)] = string(value)
	}
}

func (r *nodeReader) specField(num protowire.Number, typ protowire.Type, v []byte, n uint64) {
	if r.err != nil {
		return
	}
	switch {
	case num == specUnschedulable && typ == protowire.VarintType:
		r.node.Spec.Unschedulable = n != 0
	case num == specTaints && typ == protowire.BytesType:
		var t corev1.Taint
		r.err = eachField(v, func(n protowire.Number, ty protowire.Type, s []byte, _ uint64) {
			if ty != protowire.BytesType {
				return
			}
			switch n {
			case taintKey:
				t.Key = string(s)
			case taintValue:
				t.Value = string(s)
			case taintEffect:
				t.Effect = corev1.TaintEffect(s)
			}
		})
		r.node.Spec.Taints = append(r.node.Spec.Taints, t)
	}
}

func (r *nodeReader) statusField(num protowire.Number, typ protowire.Type, v []byte, _ uint64) {
	if typ != protowire.BytesType || r.err != nil {
		return
	}
	st := &r.node.Status
	switch num {
	case statusCapacity:
		st.Capacity, r.err = quantityEntry(v, st.Capacity, nil)
	case statusAllocatable:
		st.Allocatable, r.err = quantityEntry(v, st.Allocatable, nil)
	case statusConditions:
		var c corev1.NodeCondition
		r.err = eachField(v, func(n protowire.Number, t protowire.Type, s []byte, _ uint64) {
			if t != protowire.BytesType {
				return
			}
			switch n {
			case conditionType:
				c.Type = corev1.NodeConditionType(s)
			case conditionStatus:
				c.Status = corev1.ConditionStatus(s)
			}
		})
		if c.Type == corev1.NodeReady {
			st.Conditions = append(st.Conditions, c)
		}
	}
}

// eachField calls f with every field of a protobuf message: its number, wire type, and its bytes
// (length-delimited fields) or value (varints and fixed-width fields).
func eachField(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, n uint64)) error {
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return protowire.ParseError(l)
		}
		b = b[l:]
		switch typ {
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			f(num, typ, v, 0)
			b = b[m:]
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			f(num, typ, nil, v)
			b = b[m:]
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			b = b[m:]
		}
	}
	return nil
}

// isExpired reports a continue token the server no longer serves.
func isExpired(err error) bool { return apierrors.IsResourceExpired(err) || apierrors.IsGone(err) }
