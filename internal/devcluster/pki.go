package devcluster

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/dynamo-infra/dynamo-infra/internal/tlscert"
)

// certValidity is long enough for any dev cluster; certificates are made fresh at every start.
const certValidity = 365 * 24 * time.Hour

// pki holds the paths of the cluster's certificates and keys, all under one directory.
type pki struct {
	dir string
}

func (p pki) path(name string) string { return filepath.Join(p.dir, name) }

// Files the cluster components read.
func (p pki) caCert() string                { return p.path("ca.crt") }
func (p pki) caKey() string                 { return p.path("ca.key") }
func (p pki) servingCert() string           { return p.path("serving.crt") }
func (p pki) servingKey() string            { return p.path("serving.key") }
func (p pki) saKey() string                 { return p.path("sa.key") }
func (p pki) saPub() string                 { return p.path("sa.pub") }
func (p pki) clientCert(user string) string { return p.path(user + ".crt") }
func (p pki) clientKey(user string) string  { return p.path(user + ".key") }

// clientIdentity is a client certificate subject: CommonName is the user, Organization the groups.
type clientIdentity struct {
	file   string
	user   string
	groups []string
}

// Identities of the cluster's clients. The scheduler uses the name its bootstrap RBAC role is
// bound to, as on a kubeadm cluster. The controller-manager runs every controller under its own
// identity instead of one service account per controller: fetching those tokens one controller
// at a time made each start about 5 s slower, and nothing tested here depends on that split.
var (
	adminIdentity      = clientIdentity{file: "admin", user: "dynamo-dev-admin", groups: []string{"system:masters"}}
	controllerIdentity = clientIdentity{file: "controller-manager", user: "system:kube-controller-manager", groups: []string{"system:masters"}}
	schedulerIdentity  = clientIdentity{file: "scheduler", user: "system:kube-scheduler"}
	kwokIdentity       = clientIdentity{file: "kwok", user: "kwok-controller", groups: []string{"system:masters"}}
	apiserverKubelet   = clientIdentity{file: "apiserver-kubelet-client", user: "kube-apiserver-kubelet-client", groups: []string{"system:masters"}}
)

// generate writes a CA, a serving certificate for loopback (used by the API server and kwok),
// client certificates for every identity and the service-account signing key pair.
func (p pki) generate(now time.Time) error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	caCert, caKey, err := tlscert.NewCA("dynamo-dev-cluster-ca", now, certValidity)
	if err != nil {
		return err
	}
	if err := writeCertKey(p.caCert(), p.caKey(), caCert.Raw, caKey); err != nil {
		return err
	}

	serving := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(certValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP(serviceClusterIP)},
	}
	if err := p.issue(serving, p.servingCert(), p.servingKey(), caCert, caKey); err != nil {
		return err
	}

	for _, id := range []clientIdentity{adminIdentity, controllerIdentity, schedulerIdentity, kwokIdentity, apiserverKubelet} {
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{CommonName: id.user, Organization: id.groups},
			NotBefore:   now.Add(-time.Hour),
			NotAfter:    now.Add(certValidity),
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if err := p.issue(tmpl, p.clientCert(id.file), p.clientKey(id.file), caCert, caKey); err != nil {
			return err
		}
	}

	// Service-account tokens are signed with RSA (RS256), which every client library verifies.
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(saKey)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	if err := writePEM(p.saKey(), "PRIVATE KEY", keyDER); err != nil {
		return err
	}
	return writePEM(p.saPub(), "PUBLIC KEY", pubDER)
}

func (p pki) issue(tmpl *x509.Certificate, certPath, keyPath string, ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	der, key, err := tlscert.Issue(tmpl, ca, caKey)
	if err != nil {
		return err
	}
	return writeCertKey(certPath, keyPath, der, key)
}

func writeCertKey(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	keyPEM, err := tlscert.EncodeKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certPath, tlscert.EncodeCert(der), 0o600); err != nil {
		return err
	}
	return os.WriteFile(keyPath, keyPEM, 0o600)
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
