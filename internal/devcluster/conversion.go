package devcluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/dynamo-infra/dynamo-infra/internal/webhook"
)

// The DynamoGraphDeployment CRD converts between its versions through the operator's webhook.
// Where no operator serves it — a test that applies graphs to a bare API server, a dev cluster
// before its operator starts — this process serves the same handler (internal/webhook) on
// 127.0.0.1 and points the CRD at it: the API server of a dev cluster runs on this machine.
var local struct {
	once     sync.Once
	url      string
	ca       []byte
	err      error
	requests atomic.Int64
}

// LocalConversionRequests counts the requests this process's webhook has answered (benchmarks
// read it to see what the API server converted).
func LocalConversionRequests() int64 { return local.requests.Load() }

// ServeConversion serves conversion in this process (once, for its lifetime) and points the
// cluster's DynamoGraphDeployment CRD at it. The CRD must be installed.
func ServeConversion(ctx context.Context, cfg *rest.Config) error {
	local.once.Do(func() {
		b, _, err := webhook.Renew(nil, webhook.Identity{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, time.Now())
		if err != nil {
			local.err = err
			return
		}
		cert, err := b.Certificate()
		if err != nil {
			local.err = err
			return
		}
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}})
		if err != nil {
			local.err = fmt.Errorf("serve conversion: %w", err)
			return
		}
		// The operators of this process's tests run as the cluster's admin: it may change the
		// replicas scaling adapters own (the webhook refuses everyone else but planners).
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			local.err = err
			return
		}
		self, err := webhook.Whoami(ctx, cs)
		if err != nil {
			local.err = err
			return
		}
		h := webhook.Handler(self)
		count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			local.requests.Add(1)
			h.ServeHTTP(w, r)
		})
		srv := &http.Server{Handler: count, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		local.url, local.ca = "https://"+ln.Addr().String(), b.Trusted
	})
	if local.err != nil {
		return local.err
	}
	return PointConversion(ctx, cfg, local.url, local.ca)
}

// PointConversion points the DynamoGraphDeployment CRD's conversion (and the validating
// webhook's, when there is one) at base (https://HOST:PORT), trusting caBundle.
func PointConversion(ctx context.Context, cfg *rest.Config, base string, caBundle []byte) error {
	ext, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"conversion": map[string]any{
		"strategy": "Webhook",
		"webhook": map[string]any{"conversionReviewVersions": []string{"v1"},
			"clientConfig": map[string]any{"url": base + webhook.ConvertPath, "caBundle": caBundle, "service": nil}}}}})
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Patch(ctx, webhook.CRDName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("point the conversion of %s at %s: %w", webhook.CRDName, base, err)
	}
	// The validating webhook too, as the chart installs it: the API server then refuses what
	// dynamoctl render refuses.
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	url := base + webhook.ValidatePath
	fail, none, equivalent, timeout := admissionv1.Fail, admissionv1.SideEffectClassNone, admissionv1.Equivalent, int32(10)
	scope := admissionv1.NamespacedScope
	vwc := &admissionv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: webhook.ValidatingConfigDefault},
		Webhooks: []admissionv1.ValidatingWebhook{{
			Name: webhook.CRDName, AdmissionReviewVersions: []string{"v1"}, SideEffects: &none, FailurePolicy: &fail,
			MatchPolicy: &equivalent, TimeoutSeconds: &timeout,
			ClientConfig: admissionv1.WebhookClientConfig{URL: &url, CABundle: caBundle},
			Rules: []admissionv1.RuleWithOperations{{Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
				Rule: admissionv1.Rule{APIGroups: []string{"nvidia.com"}, APIVersions: []string{"v1beta1"}, Resources: []string{"dynamographdeployments"}, Scope: &scope}}},
		}},
	}
	old, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, vwc.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{})
	case err == nil:
		vwc.ResourceVersion = old.ResourceVersion
		_, err = cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, vwc, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("point the validating webhook at %s: %w", base, err)
	}
	return WaitConverting(ctx, cfg)
}

// WaitConverting waits (up to a minute) until the API server converts graphs through the webhook
// the CRD names — it takes up new conversion settings a moment after the update, and an operator
// serves them only once started. A dry-run create of a v1alpha1 graph converts (an empty list
// would not).
func WaitConverting(ctx context.Context, cfg *rest.Config) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	probe := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "nvidia.com/v1alpha1", "kind": "DynamoGraphDeployment",
		"metadata": map[string]any{"name": "conversion-probe", "namespace": metav1.NamespaceDefault},
		"spec": map[string]any{"services": map[string]any{"Frontend": map[string]any{"componentType": "frontend",
			"extraPodSpec": map[string]any{"mainContainer": map[string]any{"image": "probe"}}}}}}}
	gvr := schema.GroupVersionResource{Group: "nvidia.com", Version: "v1alpha1", Resource: "dynamographdeployments"}
	var last error
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, last = dyn.Resource(gvr).Namespace(metav1.NamespaceDefault).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("the API server does not convert graphs through the webhook: %w", last)
	}
	return nil
}
