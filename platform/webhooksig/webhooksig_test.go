package webhooksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNewSecret(t *testing.T) {
	t.Parallel()
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSecret()
	if a == b {
		t.Fatal("two secrets are equal")
	}
	if !strings.HasPrefix(a, "whsec_") {
		t.Fatalf("secret %q lacks whsec_", a)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
	if err != nil || len(raw) != 32 {
		t.Fatalf("secret %q: %d bytes, %v", a, len(raw), err)
	}
}

func TestSignMatchesTheDocumentedScheme(t *testing.T) {
	t.Parallel()
	at := time.Unix(1764770000, 0)
	body := []byte(`{"id":"e1"}`)
	h := hmac.New(sha256.New, []byte("whsec_abc"))
	h.Write([]byte("1764770000." + string(body)))
	want := "t=1764770000,v1=" + hex.EncodeToString(h.Sum(nil))
	if got := Sign(at, body, "whsec_abc"); got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
	if got := Sign(at, body, "whsec_abc", "whsec_old"); !strings.HasPrefix(got, want+",v1=") || strings.Count(got, "v1=") != 2 {
		t.Fatalf("two secrets: %q", got)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1764770000, 0)
	body := []byte(`{"id":"e1","type":"order.paid"}`)
	const cur, old = "whsec_current", "whsec_previous"
	rotated := Sign(now, body, cur, old)
	tests := []struct {
		name   string
		header string
		body   []byte
		secret string
		now    time.Time
		tol    time.Duration
		want   error
	}{
		{"one secret", Sign(now, body, cur), body, cur, now, DefaultTolerance, nil},
		{"rotation: current secret", rotated, body, cur, now, DefaultTolerance, nil},
		{"rotation: previous secret", rotated, body, old, now, DefaultTolerance, nil},
		{"rotation: unknown secret", rotated, body, "whsec_other", now, DefaultTolerance, ErrMismatch},
		{"wrong secret", Sign(now, body, cur), body, old, now, DefaultTolerance, ErrMismatch},
		{"tampered body", Sign(now, body, cur), []byte(`{"id":"e1","type":"order.paix"}`), cur, now, DefaultTolerance, ErrMismatch},
		{"tampered timestamp", strings.Replace(Sign(now, body, cur), "t=1764770000", "t=1764770001", 1), body, cur, now, DefaultTolerance, ErrMismatch},
		{"old timestamp", Sign(now.Add(-6*time.Minute), body, cur), body, cur, now, DefaultTolerance, ErrTimestamp},
		{"future timestamp", Sign(now.Add(6*time.Minute), body, cur), body, cur, now, DefaultTolerance, ErrTimestamp},
		{"at the edge", Sign(now.Add(-5*time.Minute), body, cur), body, cur, now, DefaultTolerance, nil},
		{"small skew ahead", Sign(now.Add(30*time.Second), body, cur), body, cur, now, DefaultTolerance, nil},
		{"custom tolerance", Sign(now.Add(-time.Hour), body, cur), body, cur, now, 2 * time.Hour, nil},
		{"zero tolerance means default", Sign(now.Add(-time.Minute), body, cur), body, cur, now, 0, nil},
		{"spaces are allowed", strings.ReplaceAll(rotated, ",", ", "), body, old, now, DefaultTolerance, nil},
		{"unknown scheme ignored", rotated + ",v0=abc", body, cur, now, DefaultTolerance, nil},
		{"missing", "", body, cur, now, DefaultTolerance, ErrMissing},
		{"blank", "   ", body, cur, now, DefaultTolerance, ErrMissing},
		{"no timestamp", strings.TrimPrefix(Sign(now, body, cur), "t=1764770000,"), body, cur, now, DefaultTolerance, ErrMalformed},
		{"no signature", "t=1764770000", body, cur, now, DefaultTolerance, ErrMalformed},
		{"two timestamps", "t=1," + Sign(now, body, cur), body, cur, now, DefaultTolerance, ErrMalformed},
		{"bad timestamp", "t=soon,v1=" + strings.Repeat("ab", 32), body, cur, now, DefaultTolerance, ErrMalformed},
		{"negative timestamp", "t=-5,v1=" + strings.Repeat("ab", 32), body, cur, now, DefaultTolerance, ErrMalformed},
		{"non-hex signature", "t=1764770000,v1=zz", body, cur, now, DefaultTolerance, ErrMalformed},
		{"short signature", "t=1764770000,v1=abcd", body, cur, now, DefaultTolerance, ErrMalformed},
		{"garbage", "sha256=abc;t", body, cur, now, DefaultTolerance, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Verify(tc.header, tc.body, tc.secret, tc.tol, tc.now)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

// A mismatch is checked before the timestamp: an attacker replaying an old
// header learns nothing new, and a forged one is reported as a mismatch
// whatever its time.
func TestVerifyForgedOldIsMismatch(t *testing.T) {
	t.Parallel()
	now := time.Unix(1764770000, 0)
	h := Sign(now.Add(-time.Hour), []byte("x"), "whsec_a")
	if err := Verify(h, []byte("x"), "whsec_b", DefaultTolerance, now); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify = %v, want ErrMismatch", err)
	}
}
