package auth_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/services/gateway/internal/auth"
	"github.com/printfleet/printfleet/services/gateway/internal/auth/authtest"
)

const secret = "auth-test-secret-0123456789abcdef0123"

func devVerifier(t *testing.T) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(context.Background(), auth.Config{Secret: config.Secret(secret), Issuer: "printfleet-dev", Audience: "printfleet", Leeway: 30 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMintVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	v := devVerifier(t)
	tok, err := auth.Mint([]byte(secret), auth.MintOptions{Subject: "alice", Roles: []string{"user", "admin"}, TTL: time.Minute, Issuer: "printfleet-dev", Audience: "printfleet"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "alice" || !slices.Equal(p.Roles, []string{"user", "admin"}) {
		t.Fatalf("principal %+v", p)
	}
}

func TestLeeway(t *testing.T) {
	t.Parallel()
	v := devVerifier(t)
	for _, c := range []struct {
		name    string
		expired time.Duration
		ok      bool
	}{
		{"expired 10s ago, inside the 30s leeway", 10 * time.Second, true},
		{"expired 2m ago", 2 * time.Minute, false},
	} {
		tok, err := auth.Mint([]byte(secret), auth.MintOptions{Subject: "alice", TTL: time.Hour, Issuer: "printfleet-dev", Audience: "printfleet",
			Now: time.Now().Add(-time.Hour - c.expired)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(context.Background(), tok)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v", c.name, err)
		}
		var ae *auth.Error
		if err != nil && (!errors.As(err, &ae) || ae.Description != "token expired") {
			t.Errorf("%s: want a 'token expired' auth error, got %v", c.name, err)
		}
	}
}

func TestExpRequired(t *testing.T) {
	t.Parallel()
	v := devVerifier(t)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "iss": "printfleet-dev", "aud": "printfleet"}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok); err == nil {
		t.Fatal("a token without exp was accepted")
	}
}

func TestRejectsShortSecretAndBadMint(t *testing.T) {
	t.Parallel()
	if _, err := auth.NewVerifier(context.Background(), auth.Config{Secret: "short", Issuer: "i", Audience: "a"}, nil); err == nil {
		t.Fatal("short secret accepted")
	}
	for _, o := range []auth.MintOptions{
		{Subject: "", TTL: time.Hour},
		{Subject: "a b", TTL: time.Hour},
		{Subject: "alice", TTL: 0},
		{Subject: "alice", TTL: time.Hour, Roles: []string{"service"}},
	} {
		if _, err := auth.Mint([]byte(secret), o); err == nil {
			t.Errorf("Mint(%+v) succeeded", o)
		}
	}
}

func jwksVerifier(t *testing.T, j *authtest.JWKS) *auth.Verifier {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := auth.NewVerifier(ctx, auth.Config{JWKSURL: j.URL, Issuer: "printfleet-dev", Audience: "printfleet", Leeway: 30 * time.Second,
		JWKSRefresh: time.Hour, JWKSUnknownKIDEvery: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.Mode() != "jwks" {
		t.Fatalf("mode %s", v.Mode())
	}
	return v
}

func TestJWKSMode(t *testing.T) {
	t.Parallel()
	j := authtest.New(t)
	v := jwksVerifier(t, j)
	pub, err := x509.MarshalPKIXPublicKey(&j.RSA.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	claims := authtest.Claims("alice", "user")
	for _, c := range []struct {
		name string
		tok  string
		ok   bool
	}{
		{"RS256 with a published key", authtest.Sign(t, jwt.SigningMethodRS256, j.RSA, "rsa-1", claims), true},
		{"ES256 with a published key", authtest.Sign(t, jwt.SigningMethodES256, j.EC, "ec-1", claims), true},
		{"RS256 without kid", authtest.Sign(t, jwt.SigningMethodRS256, j.RSA, "", claims), true},
		{"HS256 with the dev secret", authtest.Sign(t, jwt.SigningMethodHS256, []byte(secret), "", claims), false},
		{"HS256 keyed with the RSA public key (alg confusion)", authtest.Sign(t, jwt.SigningMethodHS256, pubPEM, "rsa-1", claims), false},
		{"RS512 is not on the list", authtest.Sign(t, jwt.SigningMethodRS512, j.RSA, "rsa-1", claims), false},
		{"ES256 claiming the RSA key id", authtest.Sign(t, jwt.SigningMethodES256, j.EC, "rsa-1", claims), false},
	} {
		_, err := v.Verify(context.Background(), c.tok)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v", c.name, err)
		}
	}
}

// TestJWKSUnknownKIDRefresh: a token signed with a key published after the
// set was fetched is accepted after one refresh; further unknown key ids do
// not trigger refreshes while the refresh limiter is exhausted.
func TestJWKSUnknownKIDRefresh(t *testing.T) {
	t.Parallel()
	j := authtest.New(t)
	v := jwksVerifier(t, j)
	ok := authtest.Sign(t, jwt.SigningMethodRS256, j.RSA, "rsa-1", authtest.Claims("alice", "user"))
	if _, err := v.Verify(context.Background(), ok); err != nil {
		t.Fatal(err)
	}
	base := j.Hits()
	rotated := j.AddRSAKey(t, "rsa-2")
	tok := authtest.Sign(t, jwt.SigningMethodRS256, rotated, "rsa-2", authtest.Claims("alice", "user"))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("rotated key refused: %v", err)
	}
	if j.Hits() != base+1 {
		t.Fatalf("%d fetches for one unknown kid, want 1", j.Hits()-base)
	}
	for i := range 20 {
		bogus := authtest.Sign(t, jwt.SigningMethodRS256, rotated, "nope-"+string(rune('a'+i)), authtest.Claims("alice", "user"))
		start := time.Now()
		if _, err := v.Verify(context.Background(), bogus); err == nil {
			t.Fatal("unknown kid accepted")
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("unknown kid blocked the request for %s", d)
		}
	}
	if j.Hits() != base+1 {
		t.Fatalf("unknown key ids caused %d more fetches; the refresh limiter should allow none", j.Hits()-base-1)
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		hdr   []string
		tok   string
		noTok bool
	}{
		{nil, "", true},
		{[]string{"Bearer abc"}, "abc", false},
		{[]string{"bearer   abc "}, "abc", false},
		{[]string{"Basic abc"}, "", false},
		{[]string{"Bearer"}, "", false},
		{[]string{"Bearer a", "Bearer b"}, "", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		for _, h := range c.hdr {
			r.Header.Add("Authorization", h)
		}
		tok, err := auth.BearerToken(r)
		if c.noTok != errors.Is(err, auth.ErrNoToken) || tok != c.tok || (c.tok == "" && err == nil) {
			t.Errorf("%v: %q, %v", c.hdr, tok, err)
		}
	}
}
