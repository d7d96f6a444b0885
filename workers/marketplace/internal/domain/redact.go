package domain

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Redactor removes known secrets from text that leaves the process. The
// adapters already keep headers and token exchanges out of their summaries;
// this is the second line, for a marketplace that echoes a token in an error.
type Redactor []string

// minSecret is the shortest value treated as a secret; replacing shorter ones
// would shred ordinary text.
const minSecret = 6

// NewRedactor redacts secrets and, for "keystring:sharedsecret" API keys, each
// half on its own.
func NewRedactor(secrets ...string) Redactor {
	var r Redactor
	add := func(s string) {
		if len(s) >= minSecret {
			r = append(r, s)
			if js, err := json.Marshal(s); err == nil { // as it appears inside JSON
				if inner := string(js[1 : len(js)-1]); inner != s {
					r = append(r, inner)
				}
			}
		}
	}
	for _, s := range secrets {
		add(s)
		// "keystring:sharedsecret" API keys: each half on its own too.
		if a, b, ok := strings.Cut(s, ":"); ok {
			add(a)
			add(b)
		}
	}
	return r
}

// String returns s with every secret replaced by "[redacted]".
func (r Redactor) String(s string) string {
	for _, secret := range r {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}

// Bytes returns b with every secret replaced by "[redacted]".
func (r Redactor) Bytes(b []byte) []byte {
	for _, secret := range r {
		b = bytes.ReplaceAll(b, []byte(secret), []byte("[redacted]"))
	}
	return b
}
