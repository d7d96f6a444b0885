// Package grpctls builds the transport credentials of printfleet's gRPC
// servers and clients from certificate files: plaintext when nothing is
// configured (development), TLS when a certificate is, and mutual TLS when a
// CA is configured on both sides (each process presents its own certificate
// to the services it calls, and the services require one signed by the CA).
//
// One process reads one set of files, mounted from a Secret (the chart's
// grpcTLS values; cert-manager can issue it): its certificate and key serve
// its gRPC port and are its client certificate, the CA verifies its peers.
// The certificate and key are reloaded when their files change (a renewed
// Secret); the CA is read at start.
package grpctls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Config names the certificate files (PEM). All empty: plaintext.
type Config struct {
	// CertFile is this process's PEM certificate chain: its gRPC server
	// certificate, and the client certificate it presents to the services it
	// calls (mTLS). Empty (with the others): plaintext gRPC.
	CertFile string `env:"GRPC_TLS_CERT"`
	// KeyFile is the PEM private key of the certificate.
	KeyFile string `env:"GRPC_TLS_KEY"`
	// CAFile is a PEM CA bundle that verifies peers: the servers this
	// process calls (a client with a certificate or a CA uses TLS) and, on a
	// server with a certificate, the client certificates it then requires.
	CAFile string `env:"GRPC_TLS_CA"`
	// ServerName is the name a client expects in the servers' certificates
	// (default: the host of the dial target).
	ServerName string `env:"GRPC_TLS_SERVER_NAME"`
}

// keyPair loads the certificate and key (nil without them). The loader it
// returns serves the pair to handshakes and reloads it when either file
// changes, so a renewed certificate (a Secret update) is used without a
// restart.
func (c Config) keyPair() (*keyPair, error) {
	if c.CertFile == "" && c.KeyFile == "" {
		return nil, nil
	}
	if c.CertFile == "" || c.KeyFile == "" {
		return nil, errors.New("grpc tls: PRINTFLEET_GRPC_TLS_CERT and PRINTFLEET_GRPC_TLS_KEY go together")
	}
	kp := &keyPair{certFile: c.CertFile, keyFile: c.KeyFile}
	if _, err := kp.get(); err != nil {
		return nil, err
	}
	return kp, nil
}

// keyPair is a certificate reloaded when its files change.
type keyPair struct {
	certFile, keyFile string
	mu                sync.Mutex
	stamp             string
	cert              *tls.Certificate
}

func (k *keyPair) get() (*tls.Certificate, error) {
	stamp := ""
	for _, f := range []string{k.certFile, k.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("grpc tls: certificate: %w", err)
		}
		stamp += fmt.Sprintf("%d/%d;", fi.ModTime().UnixNano(), fi.Size())
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cert != nil && stamp == k.stamp {
		return k.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		if k.cert != nil {
			return k.cert, nil // mid-update (certificate and key not yet both new): keep the last good pair
		}
		return nil, fmt.Errorf("grpc tls: certificate: %w", err)
	}
	k.cert, k.stamp = &cert, stamp
	return k.cert, nil
}

func (c Config) pool() (*x509.CertPool, error) {
	if c.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("grpc tls: CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("grpc tls: CA %s holds no PEM certificate", c.CAFile)
	}
	return pool, nil
}

// load reads the configured certificate and CA, either of which may be nil.
func (c Config) load() (*keyPair, *x509.CertPool, error) {
	certs, err := c.keyPair()
	if err != nil {
		return nil, nil, err
	}
	pool, err := c.pool()
	return certs, pool, err
}

// Server returns the server's transport credentials: nil (plaintext) without
// a certificate; TLS with one; mutual TLS, refusing clients without a
// certificate signed by the CA, when a CA is configured too. A CA without a
// certificate is refused: the server would silently stay plaintext.
func (c Config) Server() (credentials.TransportCredentials, error) {
	certs, pool, err := c.load()
	if err != nil {
		return nil, err
	}
	if certs == nil {
		if pool != nil {
			return nil, errors.New("grpc tls: PRINTFLEET_GRPC_TLS_CA is set without a server certificate (PRINTFLEET_GRPC_TLS_CERT, _KEY)")
		}
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return certs.get() }}
	if pool != nil {
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return credentials.NewTLS(cfg), nil
}

// Client returns a client's transport credentials: plaintext when nothing is
// configured; otherwise TLS verifying the server against the CA (the system
// roots without one), presenting this process's certificate when one is
// configured (mTLS).
func (c Config) Client() (credentials.TransportCredentials, error) {
	certs, pool, err := c.load()
	if err != nil {
		return nil, err
	}
	if certs == nil && pool == nil {
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: c.ServerName}
	if certs != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return certs.get() }
	}
	return credentials.NewTLS(cfg), nil
}
