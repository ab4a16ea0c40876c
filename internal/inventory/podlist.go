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
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/pager"

	"github.com/dynamo-infra/dynamo-infra/internal/nvidia"
)

// podPageSize is the number of pods per LIST page. Pages are read as they arrive, one pod at a
// time, so their size costs no memory here; larger pages mean fewer requests for the API server
// to serve (docs/benchmarks.md).
const podPageSize = 5000

// ListPodUsage lists the active pods of every namespace page by page and keeps only their
// node and NVIDIA requests.
//
// Pages are asked for in protobuf and read from the response as it arrives, pod by pod: of each
// pod only the fields PodUsageOf reads (node, phase, the containers' and init containers'
// requests and limits of NVIDIA resources, sidecar restart policies, overhead) are decoded, into
// a skeleton Pod, so a pod without NVIDIA requests costs no allocation and the answer is
// PodUsageOf's. The next page is asked for as soon as a page's continue token is read (it comes
// before the pods). A client without a REST client (a fake) gets the typed list.
func ListPodUsage(ctx context.Context, cs kubernetes.Interface) ([]PodUsage, error) {
	rc, ok := cs.CoreV1().RESTClient().(*rest.RESTClient)
	if !ok || rc == nil {
		return listPodUsageTyped(ctx, cs)
	}
	usage, err := streamPodUsage(ctx, rc)
	if isExpired(err) {
		// A continue token outlived the server's snapshot: the pager lists again, whole.
		return listPodUsageTyped(ctx, cs)
	}
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	return usage, nil
}

// response is one LIST response being received, or the error of asking for it.
type response struct {
	body io.ReadCloser
	err  error
}

func streamPodUsage(ctx context.Context, rc *rest.RESTClient) ([]PodUsage, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ask := func(cont string) chan response {
		ch := make(chan response, 1)
		go func() {
			body, err := rc.Get().Resource("pods").
				Param("fieldSelector", ActivePodsSelector).
				Param("limit", strconv.Itoa(podPageSize)).
				Param("continue", cont).
				SetHeader("Accept", runtime.ContentTypeProtobuf+", "+runtime.ContentTypeJSON).
				Stream(ctx)
			ch <- response{body, err}
		}()
		return ch
	}
	var usage []PodUsage
	keep := func(p *corev1.Pod) {
		if u, ok := PodUsageOf(p); ok {
			usage = append(usage, u)
		}
	}
	in := bufio.NewReaderSize(nil, 64<<10)
	cur := ask("")
	for {
		r := <-cur
		if r.err != nil {
			return nil, r.err
		}
		var next chan response
		in.Reset(r.body)
		err := readPodList(in, func(cont string) {
			if cont != "" && next == nil {
				next = ask(cont)
			}
		}, keep)
		r.body.Close()
		if err != nil {
			if next != nil {
				// Nobody will read it: close it once it comes (cancel ends it sooner).
				go func() {
					if r := <-next; r.body != nil {
						r.body.Close()
					}
				}()
			}
			return nil, err
		}
		if next == nil {
			return usage, nil
		}
		cur = next
	}
}

// listPodUsageTyped is ListPodUsage through the typed client, page by page.
func listPodUsageTyped(ctx context.Context, cs kubernetes.Interface) ([]PodUsage, error) {
	var usage []PodUsage
	podPager := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, opts)
	})
	podPager.PageSize = podPageSize
	podPager.PageBufferSize = 1
	err := podPager.EachListItem(ctx, metav1.ListOptions{FieldSelector: ActivePodsSelector}, func(obj runtime.Object) error {
		if u, ok := PodUsageOf(obj.(*corev1.Pod)); ok {
			usage = append(usage, u)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	return usage, nil
}

// protobufMagic starts every protobuf-encoded Kubernetes object (runtime.Unknown follows).
var protobufMagic = []byte{0x6b, 0x38, 0x73, 0x00}

// readPodList reads one LIST response: a PodList in protobuf (or, from a server that answered
// JSON, in JSON). onContinue gets the list's continue token when it is read, keep a skeleton Pod
// for every item that names an NVIDIA resource (the same Pod, reused from item to item).
func readPodList(in *bufio.Reader, onContinue func(string), keep func(*corev1.Pod)) error {
	head, err := in.Peek(len(protobufMagic))
	if err != nil || !bytes.Equal(head, protobufMagic) {
		var l corev1.PodList
		if err := json.NewDecoder(in).Decode(&l); err != nil {
			return fmt.Errorf("decode pod list: %w", err)
		}
		onContinue(l.Continue)
		for i := range l.Items {
			keep(&l.Items[i])
		}
		return nil
	}
	_, _ = in.Discard(len(protobufMagic))
	// runtime.Unknown, to the end of the response; its field 2 holds the PodList.
	envelope := protoReader{in: in, left: math.MaxInt64}
	for {
		num, typ, err := envelope.tag()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("decode pod list envelope: %w", err)
		}
		if num != unknownRaw || typ != protowire.BytesType {
			if err := envelope.skip(num, typ); err != nil {
				return fmt.Errorf("decode pod list envelope: %w", err)
			}
			continue
		}
		n, err := envelope.length()
		if err != nil {
			return fmt.Errorf("decode pod list envelope: %w", err)
		}
		list := protoReader{in: in, left: n}
		if err := list.podList(onContinue, keep); err != nil {
			return fmt.Errorf("decode pod list: %w", err)
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

// podList reads a PodList: 1 ListMeta (3: continue), 2 repeated Pod.
func (p *protoReader) podList(onContinue func(string), keep func(*corev1.Pod)) error {
	var r skeletonReader
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
		if err := r.read(msg); err != nil {
			return fmt.Errorf("pod: %w", err)
		}
		if r.nvidia {
			keep(&r.pod)
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
	containerResources, containerRestartPolicy        = 8, 24
	resourcesLimits, resourcesRequests                = 1, 2
	statusPhase                                       = 1
	mapKey, mapValue, quantityString                  = 1, 2, 1
)

// skeletonReader decodes from Pod messages only what the scheduler's request sum reads for NVIDIA
// resources: the node, the phase, containers' and init containers' NVIDIA requests and limits
// and restart policies, the NVIDIA overhead. Other resources are skipped: requests are summed
// per resource, so leaving them out changes no NVIDIA sum. One Pod is reused from item to item.
type skeletonReader struct {
	pod corev1.Pod
	// nvidia is whether the last pod read names an NVIDIA resource anywhere.
	nvidia bool
	err    error
}

func (r *skeletonReader) read(raw []byte) error {
	// Keep the slices' arrays: most pods have as many containers as the one before.
	containers, inits := r.pod.Spec.Containers[:0], r.pod.Spec.InitContainers[:0]
	r.pod = corev1.Pod{Spec: corev1.PodSpec{Containers: containers, InitContainers: inits}}
	r.nvidia, r.err = false, nil
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
			err = eachField(v, func(n protowire.Number, t protowire.Type, s []byte, _ uint64) {
				if t != protowire.BytesType || err != nil {
					return
				}
				switch n {
				case resourcesLimits:
					c.Resources.Limits, err = r.quantityEntry(s, c.Resources.Limits)
				case resourcesRequests:
					c.Resources.Requests, err = r.quantityEntry(s, c.Resources.Requests)
				}
			})
		}
	})
	return errors.Join(ferr, err)
}

// quantityEntry adds one map entry (key, Quantity) to l when its key is an NVIDIA resource.
func (r *skeletonReader) quantityEntry(raw []byte, l corev1.ResourceList) (corev1.ResourceList, error) {
	var key, value []byte
	err := eachField(raw, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) {
		switch {
		case num == mapKey && typ == protowire.BytesType:
			key = v
		case num == mapValue && typ == protowire.BytesType:
			value = v
		}
	})
	if err != nil || !bytes.HasPrefix(key, nvidiaPrefix) {
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
	r.nvidia = true
	return l, nil
}

var nvidiaPrefix = []byte(nvidia.Prefix)

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
