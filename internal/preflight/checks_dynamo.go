package preflight

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/config"
)

// ExpectedCRD is the DGD CRD this binary was built with.
func ExpectedCRD() (*apiextensionsv1.CustomResourceDefinition, error) {
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(config.DGDCRD, &crd); err != nil {
		return nil, fmt.Errorf("embedded CRD: %w", err)
	}
	return &crd, nil
}

func checkCRDs(ctx context.Context, e *Env) Outcome {
	want, err := ExpectedCRD()
	if err != nil {
		return Outcome{Status: Error, Detail: err.Error()}
	}
	got, err := e.CRD(ctx, want.Name)
	if err != nil {
		return apiError("list CRDs", err)
	}
	install := "kubectl apply --server-side -f config/crd/bases/ (or install the Helm chart)"
	if got == nil {
		return Outcome{Status: Fail, Detail: want.Name + " is not installed", Remediation: install, DocsURL: docsBase + "dynamo-crds"}
	}
	var stale []string
	for _, wv := range want.Spec.Versions {
		var gv *apiextensionsv1.CustomResourceDefinitionVersion
		for i := range got.Spec.Versions {
			if got.Spec.Versions[i].Name == wv.Name {
				gv = &got.Spec.Versions[i]
			}
		}
		switch {
		case gv == nil:
			stale = append(stale, wv.Name+" missing")
		case !gv.Served:
			stale = append(stale, wv.Name+" not served")
		case !equality.Semantic.DeepEqual(gv.Schema, wv.Schema):
			stale = append(stale, wv.Name+" schema differs")
		}
	}
	if len(stale) > 0 {
		return Outcome{Status: Warn, Detail: fmt.Sprintf("%s installed but not the one this dynamoctl expects (%s)", want.Name, strings.Join(stale, ", ")),
			Remediation: "upgrade the CRD to match the operator: " + install, DocsURL: docsBase + "dynamo-crds"}
	}
	established := false
	for _, c := range got.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			established = true
		}
	}
	if !established {
		return Outcome{Status: Fail, Detail: want.Name + " is installed but not Established", Remediation: "kubectl describe crd " + want.Name}
	}
	// Both versions are served through the operator's conversion webhook: without its CA in the
	// CRD (the operator writes it once it serves), reads in the version not stored fail.
	if c := got.Spec.Conversion; want.Spec.Conversion != nil && want.Spec.Conversion.Strategy == apiextensionsv1.WebhookConverter {
		if c == nil || c.Strategy != apiextensionsv1.WebhookConverter || c.Webhook == nil || c.Webhook.ClientConfig == nil ||
			(len(c.Webhook.ClientConfig.CABundle) == 0 && c.Webhook.ClientConfig.URL == nil) {
			return Outcome{Status: Fail, Detail: want.Name + ": its conversion webhook has no CA yet: reads and writes in nvidia.com/v1alpha1 fail until the operator serves it",
				Remediation: "install or start the operator (it writes the CA); kubectl -n <operator namespace> logs deploy/<operator> | grep webhook", DocsURL: docsBase + "dynamo-crds"}
		}
	}
	return Outcome{Status: Pass, Detail: fmt.Sprintf("%s installed, versions match this dynamoctl", want.Name)}
}

// permission is one thing a user of Dynamo may need to do.
type permission struct {
	attrs authorizationv1.ResourceAttributes
	// purpose groups permissions in the report; required ones fail the check when missing.
	purpose  string
	required bool
}

func (p permission) String() string {
	r := p.attrs.Resource
	if p.attrs.Subresource != "" {
		r += "/" + p.attrs.Subresource
	}
	if p.attrs.Group != "" {
		r += "." + p.attrs.Group
	}
	return p.attrs.Verb + " " + r
}

// Permissions lists what a person deploying Dynamo with our tools does, in namespace ns:
// deploy graphs (required), read the inventory, use pvc tooling and probes, and install the
// operator — which needs every permission of its ClusterRole, since Kubernetes only lets a
// user grant what it holds.
func Permissions(ns string) ([]permission, error) {
	var perms []permission
	add := func(purpose string, required bool, namespace, group, resource, sub string, verbs ...string) {
		for _, v := range verbs {
			perms = append(perms, permission{attrs: authorizationv1.ResourceAttributes{Namespace: namespace, Group: group, Resource: resource, Subresource: sub, Verb: v}, purpose: purpose, required: required})
		}
	}
	add("deploy graphs", true, ns, "nvidia.com", "dynamographdeployments", "", "get", "list", "watch", "create", "patch", "delete")
	add("inventory", false, "", "", "nodes", "", "list")
	add("inventory", false, "", "", "pods", "", "list")
	add("inventory", false, "", "storage.k8s.io", "storageclasses", "", "list")
	add("pvc tooling", false, ns, "", "persistentvolumeclaims", "", "get", "create", "delete")
	add("pvc tooling", false, ns, "", "pods", "", "get", "create", "delete")
	add("pvc tooling", false, ns, "", "pods", "exec", "create")
	add("GPU probes", false, ns, "batch", "jobs", "", "create", "delete")
	add("install the operator", false, "", "apiextensions.k8s.io", "customresourcedefinitions", "", "create", "patch")
	add("install the operator", false, "", "rbac.authorization.k8s.io", "clusterroles", "", "create")
	add("install the operator", false, "", "rbac.authorization.k8s.io", "clusterrolebindings", "", "create")
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(config.OperatorRole, &role); err != nil {
		return nil, fmt.Errorf("embedded operator role: %w", err)
	}
	for _, rule := range role.Rules {
		for _, g := range rule.APIGroups {
			for _, res := range rule.Resources {
				resource, sub, _ := strings.Cut(res, "/")
				add("install the operator", false, "", g, resource, sub, rule.Verbs...)
			}
		}
	}
	return perms, nil
}

func checkRBAC(ctx context.Context, e *Env) Outcome {
	ns := e.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	perms, err := Permissions(ns)
	if err != nil {
		return Outcome{Status: Error, Detail: err.Error()}
	}
	allowed := make([]bool, len(perms))
	errs := make([]error, len(perms))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, p := range perms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			attrs := p.attrs
			r, err := e.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}}, metav1.CreateOptions{})
			if err != nil {
				errs[i] = err
				return
			}
			allowed[i] = r.Status.Allowed
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return apiError("SelfSubjectAccessReview", err)
		}
	}
	missing := map[string][]string{}
	requiredMissing := false
	for i, p := range perms {
		if !allowed[i] {
			missing[p.purpose] = append(missing[p.purpose], p.String())
			requiredMissing = requiredMissing || p.required
		}
	}
	if len(missing) == 0 {
		return Outcome{Status: Pass, Detail: fmt.Sprintf("all %d permissions held (namespace %s): deploy graphs, inventory, pvc tooling, GPU probes, install the operator", len(perms), ns)}
	}
	var parts []string
	n := 0
	for _, purpose := range slices.Sorted(maps.Keys(missing)) {
		parts = append(parts, fmt.Sprintf("%s: %s", purpose, strings.Join(firstN(missing[purpose], 3), ", ")))
		n += len(missing[purpose])
	}
	out := Outcome{Status: Warn, Detail: fmt.Sprintf("%d of %d permissions missing in namespace %s — %s", n, len(perms), ns, strings.Join(parts, "; ")),
		Remediation: "ask a cluster admin for a Role/ClusterRole with these verbs; see what you hold with kubectl auth can-i --list -n " + ns,
		DocsURL:     docsBase + "rbac"}
	if requiredMissing {
		out.Status = Fail
	}
	return out
}
