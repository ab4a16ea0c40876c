package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
	"github.com/dynamo-infra/dynamo-infra/internal/graph"
)

// DynamoModel conditions, reasons and the finalizer (upstream's).
const (
	ConditionEndpointsReady = "EndpointsReady"
	ConditionServicesFound  = "ServicesFound"

	ReasonAllEndpointsReady   = "AllEndpointsReady"
	ReasonEndpointsDiscovered = "EndpointsDiscovered"
	ReasonEndpointsNotReady   = "NotReady"
	ReasonNoEndpoints         = "NoEndpoints"
	ReasonServicesFound       = "ServicesFound"
	ReasonNoServicesFound     = "NoServicesFound"

	// ModelFinalizer holds a DynamoModel until its LoRA is unloaded from its endpoints.
	ModelFinalizer = "nvidia.com/finalizer"
)

// Bounds of the calls to model endpoints (upstream's): each request, all of one model's, and
// how many at once; a model not loaded everywhere is tried again after modelRetry.
const (
	modelRequestTimeout = 15 * time.Second
	modelBatchTimeout   = 30 * time.Second
	modelConcurrency    = 10
	modelRetry          = 30 * time.Second
)

// ModelReconciler loads a DynamoModel's LoRA adapter on every endpoint of its base model, as
// upstream's DynamoModel controller does: the endpoints are the base model's headless Service's
// (their endpoint slices carry nvidia.com/dynamo-base-model-hash), each is sent
// POST /v1/loras {lora_name, source: {uri}} on its system port, and a 2xx makes it ready; a
// deleted model is sent DELETE /v1/loras/<name> on each before its finalizer is removed. A base
// model only lists its endpoints. The status says which endpoint serves it.
type ModelReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	// HTTP calls the endpoints (SetupWithManager's default: modelRequestTimeout, no redirects).
	HTTP *http.Client
}

// +kubebuilder:rbac:groups=nvidia.com,resources=dynamomodels,verbs=get;list;watch;update
// +kubebuilder:rbac:groups=nvidia.com,resources=dynamomodels/status,verbs=update

// Reconcile loads (or unloads) one model's adapter on its endpoints and writes its status.
func (r *ModelReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	m := &v1beta1.DynamoModel{}
	if err := r.Client.Get(ctx, req.NamespacedName, m); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	candidates, services, err := r.endpoints(ctx, m)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !m.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.finalize(ctx, m, candidates)
	}
	if controllerutil.AddFinalizer(m, ModelFinalizer) {
		if err := r.Client.Update(ctx, m); err != nil {
			return ctrl.Result{}, fmt.Errorf("add the finalizer: %w", err)
		}
	}
	before := m.Status.DeepCopy()
	retry := r.load(ctx, m, candidates, services)
	if !equality.Semantic.DeepEqual(*before, m.Status) {
		if err := r.Client.Status().Update(ctx, m); err != nil {
			return ctrl.Result{}, fmt.Errorf("update the status of DynamoModel %s: %w", m.Name, err)
		}
	}
	if retry {
		return ctrl.Result{RequeueAfter: modelRetry}, nil
	}
	return ctrl.Result{}, nil
}

// load sets the model's status from its endpoints, loading a LoRA on each; it says whether to
// try again (a LoRA not ready everywhere).
func (r *ModelReconciler) load(ctx context.Context, m *v1beta1.DynamoModel, candidates []modelEndpoint, services int) bool {
	set := func(t string, ok bool, reason, msg string) {
		status := metav1.ConditionFalse
		if ok {
			status = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&m.Status.Conditions, metav1.Condition{Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: m.Generation})
	}
	if len(candidates) == 0 {
		msg := "No endpoint slices found for base model " + m.Spec.BaseModelName
		set(ConditionServicesFound, false, ReasonNoServicesFound, msg)
		set(ConditionEndpointsReady, false, ReasonNoEndpoints, msg)
		m.Status.Endpoints, m.Status.TotalEndpoints, m.Status.ReadyEndpoints = nil, 0, 0
		return false // the endpoint slices' watch brings it back
	}
	set(ConditionServicesFound, true, ReasonServicesFound, fmt.Sprintf("Found %d service(s)", services))
	eps := make([]v1beta1.EndpointInfo, len(candidates))
	for i, c := range candidates {
		eps[i] = v1beta1.EndpointInfo{Address: c.address, PodName: c.pod}
	}
	if !isLoRA(m) {
		m.Status.Endpoints, m.Status.TotalEndpoints, m.Status.ReadyEndpoints = eps, len(eps), 0
		set(ConditionEndpointsReady, true, ReasonEndpointsDiscovered, fmt.Sprintf("Found %d endpoint(s) for base model", len(eps)))
		return false
	}
	var loadErr error
	if m.Spec.Source == nil || m.Spec.Source.URI == "" {
		loadErr = errors.New("spec.source.uri is required for a LoRA model")
	} else {
		bctx, cancel := context.WithTimeout(ctx, modelBatchTimeout)
		workqueue.ParallelizeUntil(bctx, modelConcurrency, len(candidates), func(i int) {
			if err := r.call(bctx, http.MethodPost, candidates[i].address, m, m.Spec.Source.URI); err != nil {
				log.FromContext(ctx).Info("load LoRA", "model", m.Spec.ModelName, "endpoint", candidates[i].address, "error", err.Error())
				return
			}
			eps[i].Ready = true
		})
		cancel()
	}
	ready := 0
	for _, e := range eps {
		if e.Ready {
			ready++
		}
	}
	m.Status.Endpoints, m.Status.TotalEndpoints, m.Status.ReadyEndpoints = eps, len(eps), ready
	switch {
	case ready == len(eps):
		set(ConditionEndpointsReady, true, ReasonAllEndpointsReady, fmt.Sprintf("All %d endpoint(s) are ready", ready))
		r.Recorder.Eventf(m, nil, corev1.EventTypeNormal, "EndpointsReady", "Load", "All %d endpoints ready for base model %s", ready, m.Spec.BaseModelName)
		return false
	default:
		msg := fmt.Sprintf("Found %d ready endpoint(s) out of %d total", ready, len(eps))
		if loadErr != nil {
			msg = loadErr.Error()
		}
		set(ConditionEndpointsReady, false, ReasonEndpointsNotReady, msg)
		r.Recorder.Eventf(m, nil, corev1.EventTypeWarning, "NotReady", "Load", "Only %d of %d endpoints ready for base model %s: %s", ready, len(eps), m.Spec.BaseModelName, msg)
		return loadErr == nil
	}
}

// finalize unloads a deleted LoRA from its endpoints (failures are said, not waited on: the
// endpoints may be gone for good) and lets the model go.
func (r *ModelReconciler) finalize(ctx context.Context, m *v1beta1.DynamoModel, candidates []modelEndpoint) error {
	if !controllerutil.ContainsFinalizer(m, ModelFinalizer) {
		return nil
	}
	if isLoRA(m) && len(candidates) > 0 {
		bctx, cancel := context.WithTimeout(ctx, modelBatchTimeout)
		failed := make([]error, len(candidates))
		workqueue.ParallelizeUntil(bctx, modelConcurrency, len(candidates), func(i int) {
			failed[i] = r.call(bctx, http.MethodDelete, candidates[i].address, m, "")
		})
		cancel()
		if err := errors.Join(failed...); err != nil {
			r.Recorder.Eventf(m, nil, corev1.EventTypeWarning, "LoRAUnloadFailed", "Unload", "Failed to unload LoRA from some endpoints: %v", err)
		} else {
			r.Recorder.Eventf(m, nil, corev1.EventTypeNormal, "LoRAUnloaded", "Unload", "Unloaded LoRA from %d endpoint(s)", len(candidates))
		}
	}
	controllerutil.RemoveFinalizer(m, ModelFinalizer)
	if err := r.Client.Update(ctx, m); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("remove the finalizer: %w", err)
	}
	return nil
}

// call sends one load (POST /v1/loras) or unload (DELETE /v1/loras/<name>) to an endpoint.
func (r *ModelReconciler) call(ctx context.Context, method, address string, m *v1beta1.DynamoModel, source string) error {
	var body io.Reader
	target, err := url.JoinPath(address, "v1", "loras")
	if method == http.MethodDelete {
		target, err = url.JoinPath(address, "v1", "loras", m.Spec.ModelName)
	} else {
		raw, _ := json.Marshal(map[string]any{"lora_name": m.Spec.ModelName, "source": map[string]any{"uri": source}})
		body = bytes.NewReader(raw)
	}
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("%s %s: status %d: %s", method, target, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

// modelEndpoint is one pod behind a base model's Service.
type modelEndpoint struct{ address, pod string }

// endpoints are the pods of the model's endpoint slices (by the base model's hash label), once
// each, at the slices' system port (9090, as rendered), and how many Services they belong to.
func (r *ModelReconciler) endpoints(ctx context.Context, m *v1beta1.DynamoModel) ([]modelEndpoint, int, error) {
	list := &discoveryv1.EndpointSliceList{}
	if err := r.Client.List(ctx, list, client.InNamespace(m.Namespace),
		client.MatchingLabels{v1alpha1.LabelBaseModelHash: graph.ModelHash(m.Spec.BaseModelName)}); err != nil {
		return nil, 0, fmt.Errorf("list the endpoint slices of base model %s: %w", m.Spec.BaseModelName, err)
	}
	var out []modelEndpoint
	seen, services := map[string]bool{}, map[string]bool{}
	for _, s := range list.Items {
		if name := s.Labels[discoveryv1.LabelServiceName]; name != "" {
			services[name] = true
		}
		port := int32(v1alpha1.PortSystem)
		for _, p := range s.Ports {
			if p.Name != nil && *p.Name == v1alpha1.PortNameSystem && p.Port != nil {
				port = *p.Port
			}
		}
		for _, ep := range s.Endpoints {
			if len(ep.Addresses) == 0 || ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
				continue
			}
			key := string(ep.TargetRef.UID)
			if key == "" {
				key = ep.TargetRef.Name
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, modelEndpoint{address: "http://" + net.JoinHostPort(ep.Addresses[0], strconv.Itoa(int(port))), pod: ep.TargetRef.Name})
		}
	}
	return out, len(services), nil
}

func isLoRA(m *v1beta1.DynamoModel) bool { return m.Spec.ModelType == "lora" }

// SetupWithManager runs the controller on model changes and on changes of the endpoint slices
// of base models (the cache holds only those: the hash label).
func (r *ModelReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.HTTP == nil {
		r.HTTP = &http.Client{Timeout: modelRequestTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("dynamomodel").
		// A deletion timestamp bumps the generation too (the API server's graceful delete): the
		// unload runs on it.
		For(&v1beta1.DynamoModel{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(r.modelsOf)).
		Complete(r)
}

// modelsOf are the models of a base model whose endpoint slice changed.
func (r *ModelReconciler) modelsOf(ctx context.Context, obj client.Object) []reconcile.Request {
	hash := obj.GetLabels()[v1alpha1.LabelBaseModelHash]
	if hash == "" {
		return nil
	}
	list := &v1beta1.DynamoModelList{}
	if err := r.Client.List(ctx, list, client.InNamespace(obj.GetNamespace())); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		if graph.ModelHash(list.Items[i].Spec.BaseModelName) == hash {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return out
}
