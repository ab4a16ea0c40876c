package devices

import (
	"context"
	"fmt"
	"strings"

	resourcev1 "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Lists are the reads Read makes; ListFrom makes them with a clientset.
type Lists struct {
	Templates func(ctx context.Context, ns string) ([]resourcev1.ResourceClaimTemplate, error)
	Slices    func(ctx context.Context) ([]resourcev1.ResourceSlice, error)
	Claims    func(ctx context.Context) ([]resourcev1.ResourceClaim, error)
	Classes   func(ctx context.Context) ([]resourcev1.DeviceClass, error)
}

// ListFrom lists with a clientset.
func ListFrom(cs kubernetes.Interface) Lists {
	api := cs.ResourceV1()
	return Lists{
		Templates: func(ctx context.Context, ns string) ([]resourcev1.ResourceClaimTemplate, error) {
			l, err := api.ResourceClaimTemplates(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return l.Items, nil
		},
		Slices: func(ctx context.Context) ([]resourcev1.ResourceSlice, error) {
			l, err := api.ResourceSlices().List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return l.Items, nil
		},
		Claims: func(ctx context.Context) ([]resourcev1.ResourceClaim, error) {
			l, err := api.ResourceClaims(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return l.Items, nil
		},
		Classes: func(ctx context.Context) ([]resourcev1.DeviceClass, error) {
			l, err := api.DeviceClasses().List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return l.Items, nil
		},
	}
}

// Read reads what Apply needs for a graph of namespace ns. A cluster that does not serve
// resource.k8s.io/v1, or a list that is forbidden, is a note (the claims are not planned);
// other errors are errors.
func Read(ctx context.Context, l Lists, ns string) (Objects, error) {
	var o Objects
	var err error
	note := func(what string, err error) bool {
		switch {
		case apierrors.IsNotFound(err) || isNotServed(err):
			o.Notes = append(o.Notes, "the cluster does not serve resource.k8s.io/v1 (DRA): the graph's device claims are not planned")
		case apierrors.IsForbidden(err):
			o.Notes = append(o.Notes, fmt.Sprintf("the graph's device claims are not planned: listing %s is forbidden", what))
		default:
			return false
		}
		return true
	}
	if o.Templates, err = l.Templates(ctx, ns); err != nil {
		if note("resourceclaimtemplates", err) {
			return o, nil
		}
		return o, fmt.Errorf("list resourceclaimtemplates: %w", err)
	}
	if o.Slices, err = l.Slices(ctx); err != nil {
		if note("resourceslices", err) {
			return o, nil
		}
		return o, fmt.Errorf("list resourceslices: %w", err)
	}
	if o.Claims, err = l.Claims(ctx); err != nil {
		if note("resourceclaims", err) {
			return o, nil
		}
		return o, fmt.Errorf("list resourceclaims: %w", err)
	}
	if o.Classes, err = l.Classes(ctx); err != nil {
		if note("deviceclasses", err) {
			return o, nil
		}
		return o, fmt.Errorf("list deviceclasses: %w", err)
	}
	return o, nil
}

// isNotServed: a typed client's "no matches for kind" (controller-runtime's REST mapper).
func isNotServed(err error) bool {
	return strings.Contains(err.Error(), "no matches for kind")
}
