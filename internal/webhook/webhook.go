// Package webhook is the operator's webhook server: conversion of DynamoGraphDeployments
// between nvidia.com/v1alpha1 and v1beta1 (the code dynamoctl convert runs), and upstream's
// v1beta1 rules the CRD's CEL cannot hold. Every replica serves it, not only the leader, so one
// replica down (a rollout, a drain, a crash) does not take reads of graphs down: with a
// conversion webhook, every GET, LIST and WATCH in the version not stored goes through it.
//
// The serving certificate is the operator's own unless cert-manager (or anyone) provides one
// in CertDir: a CA and a serving certificate kept in a Secret, renewed before they expire, and
// the CA put in the caBundle of the CRD's conversion and of the validating webhook, checked
// every Refresh. See docs/operator.md.
package webhook

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/conversion"

	"github.com/dynamo-infra/dynamo-infra/api/v1alpha1"
	"github.com/dynamo-infra/dynamo-infra/api/v1beta1"
)

// Paths served.
const (
	ConvertPath  = "/convert"
	ValidatePath = "/validate-dynamographdeployment"
)

// CRDName is the CRD whose conversion this server serves.
const CRDName = "dynamographdeployments.nvidia.com"

// ValidatingConfigDefault is the ValidatingWebhookConfiguration whose caBundle the server keeps
// unless Options.ValidatingConfig names another (the chart's is <release>-dynamo-operator-...).
const ValidatingConfigDefault = "dynamo-operator-dynamographdeployments"

// Options configure the server.
type Options struct {
	// Host and Port to listen on (Port 0: no server).
	Host string
	Port int
	// CertDir holds tls.crt and tls.key provided by someone else (cert-manager, with its CA
	// injector setting the caBundles): the operator then writes neither Secret nor caBundle.
	CertDir string
	// SecretNamespace/SecretName is where the operator keeps its CA and certificate.
	SecretNamespace, SecretName string
	// Identity is what the certificate names (the Service's DNS names).
	Identity Identity
	// URL, when set, is where the API server reaches the webhook directly (an operator beside
	// the API server: the dev cluster, tests; https://127.0.0.1:PORT). The server then also
	// points the CRD's conversion and the validating webhook at URL, and the certificate names
	// its host.
	URL string
	// ValidatingConfig names the ValidatingWebhookConfiguration to keep the caBundle (and URL)
	// of (default ValidatingConfigDefault); one that does not exist is left alone.
	ValidatingConfig string
	// Refresh is how often the certificate and the caBundles are checked (default 1 min).
	Refresh time.Duration
}

// Server serves the webhooks. Add it to the manager (it runs on every replica).
type Server struct {
	opts  Options
	store *SecretStore
	cs    kubernetes.Interface
	apix  apiextensionsclient.Interface
	cert  atomic.Pointer[tls.Certificate]
	ready atomic.Bool
	mux   *http.ServeMux
}

// Scheme is what the conversion handler decodes: both versions of the graph.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(v1alpha1.AddToScheme(s))
	utilruntime.Must(v1beta1.AddToScheme(s))
	return s
}

// Handler serves conversion and validation (also for in-process use: tests, dev cluster).
// replicaWriters are the users who may change the replicas of a service a scaling adapter owns
// (the operator's own identity: Whoami); planners' accounts may too.
func Handler(replicaWriters ...string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(ConvertPath, conversion.NewWebhookHandler(Scheme(), conversion.NewRegistry()))
	mux.HandleFunc(ValidatePath, validator{replicaWriters: replicaWriters}.validate)
	return mux
}

// Whoami is the user the API server knows cfg's credentials as (a SelfSubjectReview): the
// operator's account, which may change the replicas of services scaling adapters own.
func Whoami(ctx context.Context, cs kubernetes.Interface) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("who am I (SelfSubjectReview): %w", err)
	}
	return r.Status.UserInfo.Username, nil
}

// New builds the server.
func New(cfg *rest.Config, o Options) (*Server, error) {
	if o.Refresh == 0 {
		o.Refresh = time.Minute
	}
	if o.ValidatingConfig == "" {
		o.ValidatingConfig = ValidatingConfigDefault
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	apix, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if o.URL != "" {
		u, err := url.Parse(o.URL)
		if err != nil || u.Scheme != "https" || u.Hostname() == "" {
			return nil, fmt.Errorf("webhook URL %q: want https://HOST[:PORT]", o.URL)
		}
		if ip := net.ParseIP(u.Hostname()); ip != nil {
			o.Identity.IPs = append(o.Identity.IPs, ip)
		} else {
			o.Identity.DNSNames = append(o.Identity.DNSNames, u.Hostname())
		}
	}
	self, err := Whoami(context.Background(), cs)
	if err != nil {
		return nil, err
	}
	return &Server{opts: o, store: &SecretStore{Client: cs, Namespace: o.SecretNamespace, Name: o.SecretName},
		cs: cs, apix: apix, mux: Handler(self).(*http.ServeMux)}, nil
}

// NeedLeaderElection: every replica serves.
func (s *Server) NeedLeaderElection() bool { return false }

// Ready reports whether the server has a certificate and listens (the readiness check: a
// replica that cannot convert takes no traffic from the Service).
func (s *Server) Ready(*http.Request) error {
	if !s.ready.Load() {
		return errors.New("the webhook server is not serving yet")
	}
	return nil
}

// Start serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	log := ctrl.Log.WithName("webhook")
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if s.opts.CertDir != "" {
		kp, err := tls.LoadX509KeyPair(s.opts.CertDir+"/tls.crt", s.opts.CertDir+"/tls.key")
		if err != nil {
			return fmt.Errorf("webhook certificate from %s: %w", s.opts.CertDir, err)
		}
		s.cert.Store(&kp)
		go s.reloadFiles(ctx)
	} else {
		// The first certificate before serving; then kept every Refresh.
		for {
			err := s.keep(ctx)
			if err == nil {
				break
			}
			log.Error(err, "webhook certificate; retrying")
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(5 * time.Second):
			}
		}
	}
	cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cert.Load(), nil }
	ln, err := tls.Listen("tcp", net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port)), cfg)
	if err != nil {
		return fmt.Errorf("webhook server: %w", err)
	}
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if s.opts.CertDir == "" {
		go func() {
			t := time.NewTicker(s.opts.Refresh)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if err := s.keep(ctx); err != nil {
						log.Error(err, "keep the webhook certificate")
					}
				}
			}
		}()
	}
	s.ready.Store(true)
	log.Info("serving webhooks", "address", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// keep renews the certificate when due and puts its CA where the API server reads it.
func (s *Server) keep(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := s.store.Ensure(ctx, s.opts.Identity, time.Now())
	if err != nil {
		return err
	}
	c, err := b.Certificate()
	if err != nil {
		return err
	}
	s.cert.Store(c)
	if err := s.patchCRD(ctx, b.Trusted); err != nil {
		return err
	}
	return s.patchValidating(ctx, b.Trusted)
}

// patchCRD sets the CRD's conversion caBundle (and URL) when they differ. A CRD whose
// conversion is not a webhook (an older CRD) is left alone.
func (s *Server) patchCRD(ctx context.Context, caBundle []byte) error {
	crd, err := s.apix.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, CRDName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read CRD %s: %w", CRDName, err)
	}
	conv := crd.Spec.Conversion
	if conv == nil || conv.Strategy != "Webhook" || conv.Webhook == nil || conv.Webhook.ClientConfig == nil {
		return nil
	}
	cc := conv.Webhook.ClientConfig
	clientConfig := map[string]any{"caBundle": caBundle}
	if s.opts.URL != "" {
		clientConfig = map[string]any{"caBundle": caBundle, "url": s.opts.URL + ConvertPath, "service": nil}
	}
	if sameBundle(cc.CABundle, caBundle) && (s.opts.URL == "" || cc.URL != nil && *cc.URL == s.opts.URL+ConvertPath && cc.Service == nil) {
		return nil
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"conversion": map[string]any{"webhook": map[string]any{"clientConfig": clientConfig}}}})
	if _, err := s.apix.ApiextensionsV1().CustomResourceDefinitions().Patch(ctx, CRDName, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "dynamo-operator-webhook"}); err != nil {
		return fmt.Errorf("set the caBundle of CRD %s: %w", CRDName, err)
	}
	return nil
}

// patchValidating sets the validating webhook's caBundle (and URL) when they differ.
func (s *Server) patchValidating(ctx context.Context, caBundle []byte) error {
	vwc, err := s.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, s.opts.ValidatingConfig, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read ValidatingWebhookConfiguration %s: %w", s.opts.ValidatingConfig, err)
	}
	changed := false
	for i := range vwc.Webhooks {
		cc := &vwc.Webhooks[i].ClientConfig
		if !sameBundle(cc.CABundle, caBundle) {
			cc.CABundle, changed = caBundle, true
		}
		if s.opts.URL != "" {
			u := s.opts.URL + ValidatePath
			if cc.URL == nil || *cc.URL != u || cc.Service != nil {
				cc.URL, cc.Service, changed = &u, nil, true
			}
		}
	}
	if !changed {
		return nil
	}
	if _, err := s.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, vwc, metav1.UpdateOptions{FieldManager: "dynamo-operator-webhook"}); err != nil {
		return fmt.Errorf("set the caBundle of ValidatingWebhookConfiguration %s: %w", s.opts.ValidatingConfig, err)
	}
	return nil
}

// reloadFiles picks up a renewed certificate in CertDir (cert-manager rewrites the Secret's
// files in place).
func (s *Server) reloadFiles(ctx context.Context) {
	t := time.NewTicker(s.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if kp, err := tls.LoadX509KeyPair(s.opts.CertDir+"/tls.crt", s.opts.CertDir+"/tls.key"); err == nil {
				s.cert.Store(&kp)
			}
		}
	}
}

// validator holds who may change scaling-adapter-owned replicas.
type validator struct{ replicaWriters []string }

// mayWriteReplicas: the operator (replicaWriters) and planners' accounts
// (system:serviceaccount:<namespace>:planner-serviceaccount in any namespace, as upstream).
func (v validator) mayWriteReplicas(user string) bool {
	if slices.Contains(v.replicaWriters, user) {
		return true
	}
	parts := strings.Split(user, ":")
	return len(parts) == 4 && parts[0] == "system" && parts[1] == "serviceaccount" && parts[3] == v1alpha1.PlannerServiceAccount
}

// validate admits a graph under upstream's webhook-only v1beta1 rules (v1beta1.Validate). The
// API server sends it in v1beta1 whatever version the request used. On an update, a component
// that was there before is not held to the image rule (upstream: a new component's), and the
// replicas of a component a scaling adapter owns change only by the operator or a planner.
func (v validator) validate(w http.ResponseWriter, r *http.Request) {
	review := &admissionv1.AdmissionReview{}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20)).Decode(review); err != nil || review.Request == nil {
		http.Error(w, "want an AdmissionReview", http.StatusBadRequest)
		return
	}
	resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
	g := &v1beta1.DynamoGraphDeployment{}
	if err := json.Unmarshal(review.Request.Object.Raw, g); err != nil {
		resp.Allowed, resp.Result = false, &metav1.Status{Message: "decode the graph: " + err.Error(), Code: http.StatusBadRequest}
	} else {
		old := &v1beta1.DynamoGraphDeployment{}
		if len(review.Request.OldObject.Raw) > 0 {
			_ = json.Unmarshal(review.Request.OldObject.Raw, old)
		}
		errs := g.ValidateUpdate(old)
		if !v.mayWriteReplicas(review.Request.UserInfo.Username) {
			errs = append(errs, g.ValidateReplicaOwnership(old)...)
		}
		if len(errs) > 0 {
			status := apierrors.NewInvalid(v1beta1.GroupVersion.WithKind("DynamoGraphDeployment").GroupKind(), g.Name, errs).Status()
			resp.Allowed, resp.Result = false, &status
		}
	}
	review.Response, review.Request = resp, nil
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review)
}
