// Package dgd is what the commands that read DynamoGraphDeployments from the cluster share:
// the resource, decoding, and the exit code of a failed read.
package dgd

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
)

// ResourceNames are the names commands accept for DynamoGraphDeployments, as kubectl does.
var ResourceNames = []string{"dgd", "dynamographdeployment", "dynamographdeployments"}

// Resource is the graphs' API resource.
var Resource = v1alpha1.GroupVersion.WithResource("dynamographdeployments")

// Decode converts a graph read through the dynamic client.
func Decode(u *unstructured.Unstructured) (*v1alpha1.DynamoGraphDeployment, error) {
	g := &v1alpha1.DynamoGraphDeployment{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, g); err != nil {
		return nil, fmt.Errorf("decode %s: %w", u.GetName(), err)
	}
	return g, nil
}

// Failed gives a failed read its exit code: interrupted (130), unreachable (3), or failure (1,
// with a cluster that serves no graphs said so); an error that carries a code keeps it.
func Failed(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return exit.WithCode(exit.Interrupted, err)
	case kube.IsUnreachable(err):
		return exit.WithCode(exit.Unreachable, err)
	case meta.IsNoMatchError(err) || (apierrors.IsNotFound(err) && isCollection(err)):
		return exit.WithCode(exit.Failure, fmt.Errorf("the cluster does not serve DynamoGraphDeployments (is the CRD installed?): %w", err))
	}
	var coded *exit.Error
	if errors.As(err, &coded) {
		return err
	}
	return exit.WithCode(exit.Failure, err)
}

// isCollection: a 404 about the resource itself (no name in its details), not one graph.
func isCollection(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true
	}
	d := status.Status().Details
	return d == nil || d.Name == ""
}

// completionTimeout bounds the request a shell completion makes: a slow cluster must not hang
// the user's TAB.
const completionTimeout = 2 * time.Second

// CompleteNames lists the names of the graphs in the flags' namespace for shell completion;
// none when the cluster cannot be reached in time.
func CompleteNames(ctx context.Context, flags *genericclioptions.ConfigFlags) []string {
	cfg, err := kube.RESTConfig(flags)
	if err != nil {
		return nil
	}
	cfg.Timeout = completionTimeout
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	list, err := dyn.Resource(Resource).Namespace(kube.Namespace(flags)).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(list.Items))
	for _, u := range list.Items {
		names = append(names, u.GetName())
	}
	return names
}
