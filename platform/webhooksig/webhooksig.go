// Package webhooksig signs and verifies printfleet's outbound webhook
// deliveries. The Printfleet-Signature header carries a Unix timestamp and one
// or more HMAC-SHA256 signatures of "<timestamp>.<body>":
//
//	Printfleet-Signature: t=1764770000,v1=5257a869...,v1=9f2c01d4...
//
// The HMAC key is the whole endpoint secret string ("whsec_..."). Two v1
// entries appear while a secret rotation's grace period lasts, one per
// secret, so a receiver holding either secret verifies the delivery. A
// receiver checks the timestamp against its own clock to refuse replays.
package webhooksig

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header is the name of the signature header of every delivery.
const Header = "Printfleet-Signature"

// DefaultTolerance is how far the signed timestamp may be from the
// receiver's clock, either way: the replay window and the clock skew allowed.
const DefaultTolerance = 5 * time.Minute

// SecretPrefix starts every signing secret.
const SecretPrefix = "whsec_"

// The errors of Verify; test them with errors.Is.
var (
	ErrMissing   = errors.New("webhooksig: signature header missing")
	ErrMalformed = errors.New("webhooksig: signature header malformed")
	ErrMismatch  = errors.New("webhooksig: no signature matches")
	ErrTimestamp = errors.New("webhooksig: timestamp outside the tolerance")
)

// NewSecret returns a fresh signing secret: "whsec_" and the unpadded
// base64url encoding of 32 random bytes.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhooksig: random secret: %w", err)
	}
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Sign returns the header value for body sent at t: "t=<unix>" followed by
// one ",v1=<hex>" per secret, in the order given (the current secret first,
// then the previous one while a rotation lasts).
func Sign(t time.Time, body []byte, secrets ...string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(ts)
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

// Verify checks a Printfleet-Signature header value against body and one
// secret: some v1 signature must match and the timestamp must lie within
// tolerance of now (a tolerance <= 0 means DefaultTolerance). Entries other
// than t and v1 are ignored, so later schemes can be added alongside.
func Verify(header string, body []byte, secret string, tolerance time.Duration, now time.Time) error {
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrMissing
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: entry %q has no '='", ErrMalformed, part)
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: two timestamps", ErrMalformed)
			}
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return fmt.Errorf("%w: v1 is not a hex SHA-256 HMAC", ErrMalformed)
			}
			sigs = append(sigs, sig)
		}
	}
	if ts == "" {
		return fmt.Errorf("%w: no timestamp", ErrMalformed)
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || unix < 0 {
		return fmt.Errorf("%w: timestamp %q", ErrMalformed, ts)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrMalformed)
	}
	want := mac(secret, ts, body)
	matched := false
	for _, sig := range sigs {
		// hmac.Equal takes constant time; keep checking every entry so the
		// time taken does not say which one matched.
		if hmac.Equal(sig, want) {
			matched = true
		}
	}
	if !matched {
		return ErrMismatch
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed at %s, now %s", ErrTimestamp,
			time.Unix(unix, 0).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}
