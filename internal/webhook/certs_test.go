package webhook

import (
	"bytes"
	"context"
	"crypto/x509"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/dynamo-infra/dynamo-infra/internal/tlscert"
)

func TestRenew(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	id := Identity{DNSNames: []string{"op-webhook.dynamo-system.svc"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
	b, changed, err := Renew(nil, id, now)
	if err != nil || !changed {
		t.Fatalf("first: changed %v, %v", changed, err)
	}
	cert := tlscert.ParseCert(b.CertPEM)
	if cert == nil || !slices.Contains(cert.DNSNames, "op-webhook.dynamo-system.svc") || len(cert.IPAddresses) != 1 {
		t.Fatalf("the serving certificate does not name the identity: %+v", cert)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b.Trusted)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "op-webhook.dynamo-system.svc", CurrentTime: now}); err != nil {
		t.Fatalf("the caBundle does not verify the serving certificate: %v", err)
	}

	// A month later nothing is due: the same bundle (a restarted replica changes nothing).
	same, changed, err := Renew(b, id, now.Add(30*24*time.Hour))
	if err != nil || changed || !bytes.Equal(same.CertPEM, b.CertPEM) {
		t.Fatalf("a month later: changed %v, %v", changed, err)
	}
	// Nine months on (a third of its year left): a new serving certificate under the same CA.
	renewed, changed, err := Renew(b, id, now.Add(270*24*time.Hour))
	if err != nil || !changed || bytes.Equal(renewed.CertPEM, b.CertPEM) || !bytes.Equal(renewed.CAPEM, b.CAPEM) || !bytes.Equal(renewed.Trusted, b.Trusted) {
		t.Fatalf("nine months on: changed %v (%v); the CA and caBundle must stay", changed, err)
	}
	// A new name (the Service renamed): a new serving certificate.
	if _, changed, _ := Renew(b, Identity{DNSNames: []string{"other.svc"}}, now); !changed {
		t.Errorf("a certificate not naming the identity was kept")
	}
	// Nine years on: a new CA, the old one still trusted beside it.
	later := now.Add(9*365*24*time.Hour + 24*time.Hour)
	rotated, changed, err := Renew(b, id, later)
	if err != nil || !changed || bytes.Equal(rotated.CAPEM, b.CAPEM) {
		t.Fatalf("nine years on: changed %v, %v; want a new CA", changed, err)
	}
	if !bytes.Contains(rotated.Trusted, b.CAPEM) || !bytes.Contains(rotated.Trusted, rotated.CAPEM) {
		t.Errorf("after the CA's renewal the caBundle must trust both CAs")
	}
}

// Replicas starting together: whichever writes the Secret first, all end with its bundle.
func TestSecretStoreRace(t *testing.T) {
	cs := fake.NewClientset()
	id := Identity{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
	var wg sync.WaitGroup
	got := make([]*Bundle, 4)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &SecretStore{Client: cs, Namespace: "dynamo-system", Name: "cert"}
			b, err := s.Ensure(context.Background(), id, time.Now())
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = b
		}()
	}
	wg.Wait()
	final, err := (&SecretStore{Client: cs, Namespace: "dynamo-system", Name: "cert"}).Ensure(context.Background(), id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range got {
		if b == nil {
			continue
		}
		if !bytes.Equal(b.Trusted, final.Trusted) {
			// A replica that lost the race re-read: it must hold the winner's CA.
			t.Errorf("replica %d holds a CA the Secret does not", i)
		}
	}
}
