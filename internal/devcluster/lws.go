package devcluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The LeaderWorkerSet controller (sigs.k8s.io/lws), built by hack/cluster-bin.sh with its CRD
// from the same module: multi-node workers run on it. It runs like the other components, as a
// process on loopback; its admission webhooks — defaulting and validating LeaderWorkerSets, and
// the pod webhook that gives a group's pods their leader address, group size and worker index —
// are registered with the API server by URL, served with the cluster's own certificate.
const (
	BinLWS     = "lws"
	LWSCRDFile = "leaderworkerset.x-k8s.io_leaderworkersets.yaml"
	// lwsPodLabel marks the pods of a LeaderWorkerSet: only those go through its pod webhooks.
	lwsPodLabel = "leaderworkerset.sigs.k8s.io/name"
	// LWSWebhookConfig names both webhook configurations the cluster registers.
	LWSWebhookConfig = "dev-cluster-lws"
)

func (c *Cluster) lwsDir() string { return filepath.Join(c.dir, "lws") }

// startLWS installs the CRD, starts the controller and registers its webhooks once it serves
// them.
func (c *Cluster) startLWS(ctx context.Context) error {
	crd, err := os.ReadFile(filepath.Join(c.binDir, LWSCRDFile))
	if err != nil {
		return fmt.Errorf("the LeaderWorkerSet CRD (run make cluster-bin): %w", err)
	}
	if err := InstallCRDs(ctx, c.restConfig, crd); err != nil {
		return fmt.Errorf("install the LeaderWorkerSet CRD: %w", err)
	}
	certs := filepath.Join(c.lwsDir(), "certs")
	if err := os.MkdirAll(certs, 0o755); err != nil {
		return err
	}
	for src, dst := range map[string]string{c.pki.servingCert(): "tls.crt", c.pki.servingKey(): "tls.key"} {
		if err := copyFile(src, filepath.Join(certs, dst)); err != nil {
			return err
		}
	}
	// Leader election off (one replica), our certificate instead of its own rotation (which
	// writes a Secret for an in-cluster Service), metrics off.
	config := fmt.Sprintf(`apiVersion: config.lws.x-k8s.io/v1alpha1
kind: Configuration
leaderElection:
  leaderElect: false
health:
  healthProbeBindAddress: 127.0.0.1:%d
metrics:
  bindAddress: "0"
webhook:
  host: 127.0.0.1
  port: %d
  certDir: %s
internalCertManagement:
  enable: false
`, c.ports.lwsHealth, c.ports.lwsWebhook, certs)
	configPath := filepath.Join(c.lwsDir(), "config.yaml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return err
	}
	args := []string{"--kubeconfig=" + c.kubeconfigFor(adminIdentity), "--config=" + configPath, "--metrics-bind-address=0"}
	if err := c.start(BinLWS, args, "http://127.0.0.1:"+strconv.Itoa(c.ports.lwsHealth)+"/healthz"); err != nil {
		return err
	}
	if err := c.waitHealthy(ctx, BinLWS); err != nil {
		return err
	}
	// Its webhooks are registered by the controller shortly after it is healthy: wait until the
	// port answers TLS, then point the API server at it (failurePolicy Fail, as upstream).
	addr := "127.0.0.1:" + strconv.Itoa(c.ports.lwsWebhook)
	comp, proc := c.component(BinLWS)
	if err := waitTLS(ctx, addr, proc, comp.Log); err != nil {
		return fmt.Errorf("the LeaderWorkerSet webhook on %s: %w", addr, err)
	}
	return c.registerLWSWebhooks(ctx, "https://"+addr)
}

// waitTLS waits until addr answers a TLS handshake. It returns at once when proc, the server,
// has died: the manager starts its health probe before its webhook server, so a controller that
// lost the webhook port to another process passes the health check and then exits — waiting out
// the start timeout on "connection refused" hid that (and Start's retry with new ports).
func waitTLS(ctx context.Context, addr string, proc *process, logPath string) error {
	for {
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // a probe of our own loopback server
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = conn.Close()
			return nil
		}
		if died := proc.died(logPath); died != nil {
			return died
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// registerLWSWebhooks creates upstream's four webhooks (config/webhook with its patches) with
// URLs on loopback instead of a Service.
func (c *Cluster) registerLWSWebhooks(ctx context.Context, base string) error {
	ca, err := os.ReadFile(c.pki.caCert())
	if err != nil {
		return err
	}
	none := admissionregistrationv1.SideEffectClassNone
	fail := admissionregistrationv1.Fail
	lwsPods := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: lwsPodLabel, Operator: metav1.LabelSelectorOpExists}}}
	rule := func(group, resource string, ops ...admissionregistrationv1.OperationType) []admissionregistrationv1.RuleWithOperations {
		return []admissionregistrationv1.RuleWithOperations{{Operations: ops, Rule: admissionregistrationv1.Rule{
			APIGroups: []string{group}, APIVersions: []string{"v1"}, Resources: []string{resource}}}}
	}
	client := func(path string) admissionregistrationv1.WebhookClientConfig {
		u := base + path
		return admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: ca}
	}
	create, update := admissionregistrationv1.Create, admissionregistrationv1.Update
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: LWSWebhookConfig},
		Webhooks: []admissionregistrationv1.MutatingWebhook{
			{Name: "mleaderworkerset.kb.io", ClientConfig: client("/mutate-leaderworkerset-x-k8s-io-v1-leaderworkerset"),
				Rules: rule("leaderworkerset.x-k8s.io", "leaderworkersets", create, update), FailurePolicy: &fail, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}},
			{Name: "mpod.kb.io", ClientConfig: client("/mutate--v1-pod"), ObjectSelector: lwsPods,
				Rules: rule("", "pods", create), FailurePolicy: &fail, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}},
		},
	}
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: LWSWebhookConfig},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			{Name: "vleaderworkerset.kb.io", ClientConfig: client("/validate-leaderworkerset-x-k8s-io-v1-leaderworkerset"),
				Rules: rule("leaderworkerset.x-k8s.io", "leaderworkersets", create, update), FailurePolicy: &fail, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}},
			{Name: "vpod.kb.io", ClientConfig: client("/validate--v1-pod"), ObjectSelector: lwsPods,
				Rules: rule("", "pods", create, update), FailurePolicy: &fail, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}},
		},
	}
	// A cluster restarted from its directory has them with the last start's port: replace.
	adm := c.client.AdmissionregistrationV1()
	if _, err := adm.MutatingWebhookConfigurations().Create(ctx, mutating, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		var live *admissionregistrationv1.MutatingWebhookConfiguration
		if live, err = adm.MutatingWebhookConfigurations().Get(ctx, LWSWebhookConfig, metav1.GetOptions{}); err == nil {
			live.Webhooks = mutating.Webhooks
			_, err = adm.MutatingWebhookConfigurations().Update(ctx, live, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("register the LeaderWorkerSet mutating webhooks: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("register the LeaderWorkerSet mutating webhooks: %w", err)
	}
	if _, err := adm.ValidatingWebhookConfigurations().Create(ctx, validating, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		var live *admissionregistrationv1.ValidatingWebhookConfiguration
		if live, err = adm.ValidatingWebhookConfigurations().Get(ctx, LWSWebhookConfig, metav1.GetOptions{}); err == nil {
			live.Webhooks = validating.Webhooks
			_, err = adm.ValidatingWebhookConfigurations().Update(ctx, live, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("register the LeaderWorkerSet validating webhooks: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("register the LeaderWorkerSet validating webhooks: %w", err)
	}
	return nil
}
