package webhook

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dynamo-infra/dynamo-infra/internal/tlscert"
)

// The certificates the operator makes for its webhook: a CA that lives ten years and signs a
// serving certificate that lives one. The serving certificate is renewed when a third of its
// life is left, under the same CA, so the caBundle the API server trusts does not change; the
// CA is renewed when a year is left, the new one trusted beside the old until the old expires.
const (
	caLifetime      = 10 * 365 * 24 * time.Hour
	servingLifetime = 365 * 24 * time.Hour
	caRenewBefore   = 365 * 24 * time.Hour
)

// Keys of the Secret (kubernetes.io/tls, plus ca.key the operator alone reads).
const (
	keyCA      = "ca.crt"
	keyCAKey   = "ca.key"
	keyCert    = corev1.TLSCertKey
	keyKey     = corev1.TLSPrivateKeyKey
	keyTrusted = "ca-bundle.crt" // every CA still trusted (the current one and, while it lives, the previous)
)

// Identity is what the serving certificate must name: the webhook Service's DNS names, or
// 127.0.0.1 for an operator that runs beside the API server (the dev cluster, tests).
type Identity struct {
	DNSNames []string
	IPs      []net.IP
}

// Bundle is the Secret's content, parsed.
type Bundle struct {
	CAPEM, CAKeyPEM, CertPEM, KeyPEM []byte
	// Trusted are the CAs the caBundle must hold (PEM).
	Trusted []byte
}

// Certificate is the serving certificate for TLS.
func (b *Bundle) Certificate() (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(b.CertPEM, b.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("the webhook's serving certificate: %w", err)
	}
	return &c, nil
}

// Renew returns the bundle to keep: b as it is when it is still good for id at now, else with
// what must be renewed made anew (changed is true then).
func Renew(b *Bundle, id Identity, now time.Time) (out *Bundle, changed bool, err error) {
	out = &Bundle{}
	if b != nil {
		*out = *b
	}
	ca, caKey, caOK := parseCA(out, now)
	if !caOK {
		var prev []byte
		if ca != nil && now.Before(ca.NotAfter) {
			prev = out.CAPEM // still trusted until it expires: certificates it signed keep working
		}
		if out.CAPEM, out.CAKeyPEM, err = newCA(now); err != nil {
			return nil, false, err
		}
		out.Trusted = append(append([]byte{}, out.CAPEM...), prev...)
		if ca, caKey, caOK = parseCA(out, now); !caOK {
			return nil, false, fmt.Errorf("the webhook CA just made does not parse")
		}
		out.CertPEM, out.KeyPEM = nil, nil
		changed = true
	}
	if len(out.Trusted) == 0 {
		out.Trusted, changed = out.CAPEM, true
	}
	if !servingOK(out, ca, id, now) {
		if out.CertPEM, out.KeyPEM, err = newServing(ca, caKey, id, now); err != nil {
			return nil, false, err
		}
		changed = true
	}
	return out, changed, nil
}

func parseCA(b *Bundle, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, bool) {
	cert := tlscert.ParseCert(b.CAPEM)
	key, err := tlscert.ParseKey(b.CAKeyPEM)
	if cert == nil || err != nil {
		return cert, nil, false
	}
	return cert, key, now.Add(caRenewBefore).Before(cert.NotAfter)
}

func servingOK(b *Bundle, ca *x509.Certificate, id Identity, now time.Time) bool {
	cert := tlscert.ParseCert(b.CertPEM)
	if cert == nil || cert.CheckSignatureFrom(ca) != nil {
		return false
	}
	if _, err := tls.X509KeyPair(b.CertPEM, b.KeyPEM); err != nil {
		return false
	}
	if life := cert.NotAfter.Sub(cert.NotBefore); now.Add(life / 3).After(cert.NotAfter) {
		return false
	}
	for _, n := range id.DNSNames {
		if !slices.Contains(cert.DNSNames, n) {
			return false
		}
	}
	for _, ip := range id.IPs {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func newCA(now time.Time) (certPEM, keyPEM []byte, err error) {
	cert, key, err := tlscert.NewCA("dynamo-operator-webhook-ca", now, caLifetime)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = tlscert.EncodeKey(key)
	return tlscert.EncodeCert(cert.Raw), keyPEM, err
}

func newServing(ca *x509.Certificate, caKey *ecdsa.PrivateKey, id Identity, now time.Time) (certPEM, keyPEM []byte, err error) {
	cn := "dynamo-operator-webhook"
	if len(id.DNSNames) > 0 {
		cn = id.DNSNames[0]
	}
	der, key, err := tlscert.Issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		DNSNames:    id.DNSNames,
		IPAddresses: id.IPs,
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(servingLifetime),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, caKey)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = tlscert.EncodeKey(key)
	return tlscert.EncodeCert(der), keyPEM, err
}

// SecretStore keeps the bundle in a Secret: every replica reads it, and the first to find it
// missing or due makes it (an update that loses the race reads the winner's).
type SecretStore struct {
	Client          kubernetes.Interface
	Namespace, Name string
}

// Ensure returns the Secret's bundle, renewed as Renew says and written back when renewed.
func (s *SecretStore) Ensure(ctx context.Context, id Identity, now time.Time) (*Bundle, error) {
	for attempt := 0; attempt < 5; attempt++ {
		sec, err := s.Client.CoreV1().Secrets(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{})
		missing := apierrors.IsNotFound(err)
		if err != nil && !missing {
			return nil, fmt.Errorf("read Secret %s/%s: %w", s.Namespace, s.Name, err)
		}
		var cur *Bundle
		if !missing {
			cur = &Bundle{CAPEM: sec.Data[keyCA], CAKeyPEM: sec.Data[keyCAKey], CertPEM: sec.Data[keyCert], KeyPEM: sec.Data[keyKey], Trusted: sec.Data[keyTrusted]}
		}
		b, changed, err := Renew(cur, id, now)
		if err != nil {
			return nil, err
		}
		if !changed {
			return b, nil
		}
		data := map[string][]byte{keyCA: b.CAPEM, keyCAKey: b.CAKeyPEM, keyCert: b.CertPEM, keyKey: b.KeyPEM, keyTrusted: b.Trusted}
		if missing {
			_, err = s.Client.CoreV1().Secrets(s.Namespace).Create(ctx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "dynamo-operator"}},
				Type:       corev1.SecretTypeTLS, Data: data}, metav1.CreateOptions{})
		} else {
			sec.Data = data
			_, err = s.Client.CoreV1().Secrets(s.Namespace).Update(ctx, sec, metav1.UpdateOptions{})
		}
		if apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) {
			continue // another replica wrote it first: use theirs
		}
		if err != nil {
			return nil, fmt.Errorf("write Secret %s/%s: %w", s.Namespace, s.Name, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("the Secret %s/%s was written by another replica on every try", s.Namespace, s.Name)
}

// sameBundle reports whether two CA bundles hold the same certificates.
func sameBundle(a, b []byte) bool { return bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b)) }
