package preflight

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/pager"

	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
	"github.com/dynamo-infra/dynamo-infra/internal/render"
)

// Env is what checks share: one set of clients, the inputs, and cluster data each check may
// need, fetched once however many checks ask for it.
type Env struct {
	Profile string
	// Config is nil when no check needs the cluster.
	Config    *rest.Config
	Client    kubernetes.Interface
	Dynamic   dynamic.Interface
	APIExt    apiextensionsclient.Interface
	Namespace string
	NATS      string
	Etcd      string
	// Graphs are the manifests of -f; Render configures how they are rendered.
	Graphs []*graph.Graph
	Render render.Config

	// Set by connect.
	server      *version.Info
	user        string
	connectErr  error
	unreachable bool

	nodes   lazy[[]corev1.Node]
	pods    lazy[[]inventory.PodUsage]
	crds    lazy[map[string]*apiextensionsv1.CustomResourceDefinition]
	invOnce sync.Once
	inv     inventory.Inventory
}

// NewEnv builds the clients from a REST config (nil when no check needs the cluster).
func NewEnv(cfg *rest.Config) (*Env, error) {
	e := &Env{Config: cfg}
	if cfg == nil {
		return e, nil
	}
	// Built-in kinds in protobuf: listing 2,000 nodes is a third of the JSON work.
	pcfg := rest.CopyConfig(cfg)
	pcfg.ContentType = runtime.ContentTypeProtobuf
	pcfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	var err error
	if e.Client, err = kubernetes.NewForConfig(pcfg); err != nil {
		return nil, err
	}
	if e.Dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if e.APIExt, err = apiextensionsclient.NewForConfig(cfg); err != nil {
		return nil, err
	}
	return e, nil
}

// Server is the API server's URL, empty without a cluster.
func (e *Env) Server() string {
	if e.Config == nil {
		return ""
	}
	return e.Config.Host
}

// connect asks the server for its version and who we are; checkAPI reports the result.
func (e *Env) connect(ctx context.Context) {
	if e.Client == nil {
		e.connectErr, e.unreachable = fmt.Errorf("no cluster configuration"), true
		return
	}
	var err error
	e.server, err = e.Client.Discovery().ServerVersion()
	if err != nil {
		e.connectErr = err
		e.unreachable = kube.IsUnreachable(err) || ctx.Err() != nil
		return
	}
	// Who the credentials authenticate as. /version is public; this request is not.
	review, err := e.Client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	switch {
	case err == nil:
		e.user = review.Status.UserInfo.Username
	case apierrors.IsUnauthorized(err):
		e.connectErr = err
	case kube.IsUnreachable(err):
		e.connectErr, e.unreachable = err, true
	}
}

// lazy holds one value fetched once, shared by concurrent checks.
type lazy[T any] struct {
	once sync.Once
	v    T
	err  error
}

func (l *lazy[T]) get(f func() (T, error)) (T, error) {
	l.once.Do(func() { l.v, l.err = f() })
	return l.v, l.err
}

// Nodes lists every node, whole (checks read labels, taints and conditions), page by page.
func (e *Env) Nodes(ctx context.Context) ([]corev1.Node, error) {
	return e.nodes.get(func() ([]corev1.Node, error) {
		var nodes []corev1.Node
		p := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return e.Client.CoreV1().Nodes().List(ctx, opts)
		})
		p.PageSize = 500
		err := p.EachListItem(ctx, metav1.ListOptions{}, func(obj runtime.Object) error {
			nodes = append(nodes, *obj.(*corev1.Node))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		return nodes, nil
	})
}

// Inventory is the GPU inventory (internal/inventory) of the whole cluster: node facts, free
// GPUs per node.
func (e *Env) Inventory(ctx context.Context) (inventory.Inventory, error) {
	// Both lists at once, as inventory.ListFromAPI makes them: the server encodes pods while
	// nodes are decoded here.
	var nodes []corev1.Node
	var pods []inventory.PodUsage
	var g errgroup.Group
	g.Go(func() (err error) {
		pods, err = e.pods.get(func() ([]inventory.PodUsage, error) { return inventory.ListPodUsage(ctx, e.Client) })
		return err
	})
	g.Go(func() (err error) {
		nodes, err = e.Nodes(ctx)
		return err
	})
	if err := g.Wait(); err != nil {
		return inventory.Inventory{}, err
	}
	e.invOnce.Do(func() { e.inv = inventory.Build(nodes, pods, inventory.BuildOptions{}) })
	return e.inv, nil
}

// CRD returns the named CRD, nil when it is not installed. All CRDs are listed once.
func (e *Env) CRD(ctx context.Context, name string) (*apiextensionsv1.CustomResourceDefinition, error) {
	crds, err := e.crds.get(func() (map[string]*apiextensionsv1.CustomResourceDefinition, error) {
		l, err := e.APIExt.ApiextensionsV1().CustomResourceDefinitions().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list CRDs: %w", err)
		}
		m := map[string]*apiextensionsv1.CustomResourceDefinition{}
		for i := range l.Items {
			m[l.Items[i].Name] = &l.Items[i]
		}
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	return crds[name], nil
}
