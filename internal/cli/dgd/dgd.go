// Package dgd is what the commands that read DynamoGraphDeployments from the cluster share:
// the names they accept, completion, and the exit code of a failed read (the resource and
// decoding are graph's: graph.Resource, graph.FromUnstructured).
package dgd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/dynamo-infra/dynamo-infra/internal/cli/exit"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
	"github.com/dynamo-infra/dynamo-infra/internal/kube"
)

// ResourceNames are the names commands accept for DynamoGraphDeployments, as kubectl does.
var ResourceNames = []string{"dgd", "dynamographdeployment", "dynamographdeployments"}

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
func CompleteNames(ctx context.Context, flags *kube.ConfigFlags) []string {
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
	list, err := dyn.Resource(graph.Resource).Namespace(kube.Namespace(flags)).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(list.Items))
	for _, u := range list.Items {
		names = append(names, u.GetName())
	}
	return names
}

// ParseName reads a graph's name from a command's arguments, as kubectl reads a resource:
// dgd/NAME or dgd NAME; none is "" (the command may take -f instead). command names the
// command in errors ("explain").
func ParseName(command string, args []string) (string, error) {
	var name string
	switch {
	case len(args) == 0:
		return "", nil
	case len(args) == 1 && strings.Contains(args[0], "/"):
		kind, n, _ := strings.Cut(args[0], "/")
		if !slices.Contains(ResourceNames, strings.ToLower(kind)) {
			return "", fmt.Errorf("unknown resource type %q: dynamoctl %s takes DynamoGraphDeployments (dgd/NAME)", kind, command)
		}
		name = n
	case len(args) == 2 && slices.Contains(ResourceNames, strings.ToLower(args[0])):
		name = args[1]
	case len(args) == 1:
		return "", fmt.Errorf("say which resource: dynamoctl %s dgd/%s", command, args[0])
	default:
		return "", fmt.Errorf("%s takes one graph: dgd/NAME", command)
	}
	if name == "" {
		return "", errors.New("the graph's name is empty: dgd/NAME")
	}
	return name, nil
}

// ValidArgs completes dgd/ and then the graphs' names, for commands that take dgd/NAME.
func ValidArgs(flags *kube.ConfigFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 || !strings.HasPrefix(toComplete, "dgd/") {
			if len(args) == 0 {
				return []string{"dgd/"}, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, n := range CompleteNames(cmd.Context(), flags) {
			out = append(out, "dgd/"+n)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
