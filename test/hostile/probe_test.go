package hostile

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dynamo-infra/dynamo-infra/internal/devcluster/devclustertest"
	"github.com/dynamo-infra/dynamo-infra/test/clitest"
)

// A probe in a namespace that enforces Pod Security "restricted" is refused by admission:
// gpus says so (not "timeout") and exits 1, and leaves no Job behind.
func TestProbeRefusedByPodSecurity(t *testing.T) {
	c := devclustertest.Start(t, "aks-a100=1")
	cs := c.Client()
	_, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "locked",
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}, metav1.CreateOptions{})
	must(t, err)
	r := clitest.Run(t, dynamoctl, 2*time.Minute, nil, "gpus", "--kubeconfig", c.KubeconfigPath(), "-n", "locked", "--probe", "--probe-timeout", "60s")
	if r.Code != 1 || !strings.Contains(r.Stderr, "PodSecurity") || strings.Contains(r.Stdout+r.Stderr, "no result within") {
		t.Errorf("exit %d, want 1 naming PodSecurity\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if r.Took > 45*time.Second {
		t.Errorf("took %s: the refusal was not noticed before the probe's timeout", r.Took)
	}
	jobs, err := cs.BatchV1().Jobs("locked").List(t.Context(), metav1.ListOptions{})
	must(t, err)
	if len(jobs.Items) != 0 {
		t.Errorf("%d probe Jobs left", len(jobs.Items))
	}
}
