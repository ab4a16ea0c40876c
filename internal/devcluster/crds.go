package devcluster

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/internal/yamldoc"
)

// InstallCRDs server-side applies the CustomResourceDefinitions in raw (YAML, several
// documents allowed; server-side because generated CRDs outgrow the last-applied annotation)
// and waits until each is Established and its resource is listed by discovery (clients that
// map kinds through discovery can use it at once).
func InstallCRDs(ctx context.Context, cfg *rest.Config, raw []byte) error {
	ext, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	return yamldoc.Each(bytes.NewReader(raw), "CRDs", func(_ int, doc []byte) error {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(doc, &crd); err != nil {
			return err
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return err
		}
		if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Patch(ctx, crd.Name, types.ApplyPatchType, js,
			metav1.PatchOptions{FieldManager: "dynamo-infra-dev", Force: new(true)}); err != nil {
			return fmt.Errorf("apply CRD %s: %w", crd.Name, err)
		}
		if err := WaitEstablished(ctx, ext, crd.Name); err != nil {
			return err
		}
		return waitDiscoverable(ctx, ext.Discovery(), &crd)
	})
}

// waitDiscoverable waits (up to a minute) until discovery lists crd's resource in every served
// version: Established comes first, and a client that builds its REST mapping right then can
// still be told the group has no such resource.
func waitDiscoverable(ctx context.Context, d discovery.DiscoveryInterface, crd *apiextensionsv1.CustomResourceDefinition) error {
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		gv := crd.Spec.Group + "/" + v.Name
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
			l, err := d.ServerResourcesForGroupVersion(gv)
			if err != nil {
				return false, nil
			}
			return slices.ContainsFunc(l.APIResources, func(r metav1.APIResource) bool { return r.Name == crd.Spec.Names.Plural }), nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s: %s not served by discovery: %w", crd.Name, gv, err)
		}
	}
	return nil
}

// WaitEstablished waits (up to a minute) until the named CRD is Established.
func WaitEstablished(ctx context.Context, ext apiextensionsclient.Interface, name string) error {
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		crd, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("CRD %s not Established: %w", name, err)
	}
	return nil
}
