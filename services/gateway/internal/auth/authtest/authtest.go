// Package authtest serves a JWK Set over HTTP for tests of the gateway's
// production (JWKS) mode, and signs tokens with its keys.
package authtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/printfleet/printfleet/services/gateway/internal/auth"
)

// JWKS is a JWK Set endpoint with an RSA ("rsa-1", RS256) and an EC
// ("ec-1", ES256) key.
type JWKS struct {
	URL string
	RSA *rsa.PrivateKey
	EC  *ecdsa.PrivateKey

	mu   sync.Mutex
	keys []map[string]string
	hits atomic.Int32
}

// New starts the endpoint; it stops when t ends.
func New(t testing.TB) *JWKS {
	t.Helper()
	j := &JWKS{}
	j.RSA = j.AddRSAKey(t, "rsa-1")
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	j.EC = ec
	j.keys = append(j.keys, map[string]string{
		"kty": "EC", "crv": "P-256", "kid": "ec-1", "alg": "ES256", "use": "sig",
		"x": b64(pad(ec.X, 32)), "y": b64(pad(ec.Y, 32)),
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		j.hits.Add(1)
		j.mu.Lock()
		body, _ := json.Marshal(map[string]any{"keys": j.keys})
		j.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	j.URL = srv.URL
	return j
}

// AddRSAKey publishes a new RS256 key under kid (key rotation).
func (j *JWKS) AddRSAKey(t testing.TB, kid string) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.keys = append(j.keys, map[string]string{
		"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes()),
	})
	return k
}

// Hits counts fetches of the key set.
func (j *JWKS) Hits() int { return int(j.hits.Load()) }

// Claims are valid claims for sub with roles, for the default iss/aud.
func Claims(sub string, roles ...string) auth.Claims {
	now := time.Now()
	return auth.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "printfleet-dev", Subject: sub, Audience: jwt.ClaimStrings{"printfleet"},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}, Roles: roles}
}

// Sign signs c with method and key, naming kid in the header ("" = none).
func Sign(t testing.TB, method jwt.SigningMethod, key any, kid string, c auth.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func pad(n *big.Int, size int) []byte {
	b := n.Bytes()
	if len(b) >= size {
		return b
	}
	return append(make([]byte, size-len(b)), b...)
}
