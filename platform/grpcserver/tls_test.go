package grpcserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/printfleet/printfleet/platform/grpcclient"
	"github.com/printfleet/printfleet/platform/grpcserver"
	"github.com/printfleet/printfleet/platform/grpctls"
	"github.com/printfleet/printfleet/platform/principal"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
)

// pki is a throwaway CA in a temporary directory.
type pki struct {
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, name string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &pki{dir: t.TempDir(), cert: cert, key: key}
	ca.write(t, "ca.pem", "CERTIFICATE", der)
	return ca
}

func (ca *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(ca.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue writes a certificate for name (valid for 127.0.0.1 too) and its key,
// and returns their paths.
func (ca *pki) issue(t *testing.T, name string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return ca.write(t, name+".pem", "CERTIFICATE", der), ca.write(t, name+"-key.pem", "PRIVATE KEY", kder)
}

func (ca *pki) caFile() string { return filepath.Join(ca.dir, "ca.pem") }

func serveTLS(t *testing.T, tlsCfg grpctls.Config) (string, *principal.Signer) {
	t.Helper()
	signer, _ := principal.NewSigner(secret)
	srv, err := grpcserver.New(grpcserver.Options{Signer: signer, Grace: time.Second, TLS: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	ordersv1.RegisterOrderServiceServer(srv, &fakeOrders{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeOn(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String(), signer
}

func call(t *testing.T, addr string, signer *principal.Signer, tlsCfg grpctls.Config) error {
	t.Helper()
	cc, err := grpcclient.Dial(addr, grpcclient.Options{Signer: signer, DefaultTimeout: 3 * time.Second, TLS: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx := principal.With(context.Background(), principal.Principal{Subject: "alice", Roles: []string{principal.RoleUser}})
	_, err = ordersv1.NewOrderServiceClient(cc).GetOrder(ctx, &ordersv1.GetOrderRequest{OrderId: orderID})
	return err
}

// TestMutualTLS serves with a certificate and a client CA: a client with a
// certificate from that CA gets through; one without a certificate, one with
// a certificate from another CA, and a plaintext one are refused.
func TestMutualTLS(t *testing.T) {
	t.Parallel()
	ca, rogue := newCA(t, "printfleet-test-ca"), newCA(t, "rogue-ca")
	srvCert, srvKey := ca.issue(t, "orders", x509.ExtKeyUsageServerAuth)
	cliCert, cliKey := ca.issue(t, "gateway", x509.ExtKeyUsageClientAuth)
	rogueCert, rogueKey := rogue.issue(t, "gateway", x509.ExtKeyUsageClientAuth)
	addr, signer := serveTLS(t, grpctls.Config{CertFile: srvCert, KeyFile: srvKey, CAFile: ca.caFile()})

	if err := call(t, addr, signer, grpctls.Config{CertFile: cliCert, KeyFile: cliKey, CAFile: ca.caFile()}); err != nil {
		t.Fatalf("client with a certificate of the CA: %v", err)
	}
	for name, c := range map[string]grpctls.Config{
		"no client certificate":            {CAFile: ca.caFile()},
		"certificate of another CA":        {CertFile: rogueCert, KeyFile: rogueKey, CAFile: ca.caFile()},
		"plaintext":                        {},
		"server not trusted by the client": {CertFile: cliCert, KeyFile: cliKey, CAFile: rogue.caFile()},
	} {
		err := call(t, addr, signer, c)
		if status.Code(err) != codes.Unavailable {
			t.Errorf("%s: %v, want the connection refused (Unavailable)", name, err)
			continue
		}
		t.Logf("%s: refused: %v", name, status.Convert(err).Message())
	}
}

// TestServerTLSWithoutClientCA serves TLS without requiring client
// certificates: a client that trusts the CA gets through without one.
func TestServerTLSWithoutClientCA(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "printfleet-test-ca")
	srvCert, srvKey := ca.issue(t, "orders", x509.ExtKeyUsageServerAuth)
	addr, signer := serveTLS(t, grpctls.Config{CertFile: srvCert, KeyFile: srvKey})
	if err := call(t, addr, signer, grpctls.Config{CAFile: ca.caFile()}); err != nil {
		t.Fatalf("TLS client: %v", err)
	}
	if err := call(t, addr, signer, grpctls.Config{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("plaintext client against a TLS server: %v", err)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "printfleet-test-ca")
	cert, _ := ca.issue(t, "orders", x509.ExtKeyUsageServerAuth)
	for name, c := range map[string]grpctls.Config{
		"cert without key": {CertFile: cert},
		"missing key file": {CertFile: cert, KeyFile: cert + ".missing"},
		"CA is not PEM":    {CAFile: filepath.Join(ca.dir, "nothing")},
		"CA without cert":  {CAFile: ca.caFile()},
	} {
		if _, err := grpcserver.New(grpcserver.Options{Signer: mustSigner(t), TLS: c}); err == nil {
			t.Errorf("%s: server accepted", name)
		}
	}
}

func mustSigner(t *testing.T) *principal.Signer {
	t.Helper()
	s, err := principal.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRenewedCertificateIsServedWithoutRestart replaces the server's
// certificate files (as a renewed Secret does): new connections get the new
// certificate.
func TestRenewedCertificateIsServedWithoutRestart(t *testing.T) {
	t.Parallel()
	ca, next := newCA(t, "printfleet-test-ca"), newCA(t, "renewed-ca")
	srvCert, srvKey := ca.issue(t, "orders", x509.ExtKeyUsageServerAuth)
	addr, signer := serveTLS(t, grpctls.Config{CertFile: srvCert, KeyFile: srvKey})
	if err := call(t, addr, signer, grpctls.Config{CAFile: ca.caFile()}); err != nil {
		t.Fatalf("before the renewal: %v", err)
	}
	newCert, newKey := next.issue(t, "orders", x509.ExtKeyUsageServerAuth)
	for src, dst := range map[string]string{newCert: srvCert, newKey: srvKey} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Second)
		if err := os.Chtimes(dst, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if err := call(t, addr, signer, grpctls.Config{CAFile: next.caFile()}); err != nil {
		t.Fatalf("after the renewal, trusting the new certificate's CA: %v", err)
	}
	if err := call(t, addr, signer, grpctls.Config{CAFile: ca.caFile()}); status.Code(err) != codes.Unavailable {
		t.Fatalf("after the renewal, the old certificate is still served: %v", err)
	}
}
