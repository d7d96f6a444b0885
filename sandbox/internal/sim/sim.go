// Package sim holds what the sandbox servers share: a seeded dice for fault
// injection, latency that respects the caller's context, and JSON replies.
package sim

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Dice is a goroutine-safe random source; a fixed seed makes fault runs repeatable.
type Dice struct {
	mu  sync.Mutex
	rng *rand.Rand
}

// NewDice returns dice seeded with seed (0 picks a random seed).
func NewDice(seed uint64) *Dice {
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Dice{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Hit reports whether an event with probability p happens.
func (d *Dice) Hit(p float64) bool {
	if p <= 0 {
		return false
	}
	if p >= 1 {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rng.Float64() < p
}

// Hex returns n random hex characters, for opaque ids and tokens.
func (d *Dice) Hex(n int) string {
	const digits = "0123456789abcdef"
	d.mu.Lock()
	defer d.mu.Unlock()
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[d.rng.IntN(16)]
	}
	return string(b)
}

// Sleep waits for d or until ctx is done, whichever comes first.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WriteJSON writes v as a JSON reply with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// MaxBody caps what a sandbox endpoint reads from a request.
const MaxBody = 1 << 20

// DecodeJSON reads a JSON body of at most MaxBody bytes into v, rejecting unknown
// trailing data.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.UseNumber()
	return dec.Decode(v)
}
