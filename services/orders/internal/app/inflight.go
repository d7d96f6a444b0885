package app

import (
	"bytes"
	"sync"

	"github.com/printfleet/printfleet/platform/errs"
)

// inflight holds the idempotency keys of the creates running in this
// process, so that a repeat arriving meanwhile is answered at once (as
// before, "in progress") instead of asking the catalog and pricing again
// only to lose on the key's primary key. It holds nothing durable: a create
// that fails or a process that dies leaves no key behind.
type inflight struct {
	mu   sync.Mutex
	keys map[[2]string][]byte // (user, key) → request hash
}

// hold registers (userID, key) for a request with hash; done unregisters
// it. A key held by another request is errs.Conflict with the same hash and
// errs.IdempotencyMismatch with another.
func (f *inflight) hold(userID, key string, hash []byte) (done func(), err error) {
	k := [2]string{userID, key}
	f.mu.Lock()
	defer f.mu.Unlock()
	if held, ok := f.keys[k]; ok {
		if !bytes.Equal(held, hash) {
			return nil, errs.E(errs.IdempotencyMismatch, "the Idempotency-Key was already used with a different request")
		}
		return nil, errs.E(errs.Conflict, "a request with this Idempotency-Key is in progress; retry later")
	}
	if f.keys == nil {
		f.keys = map[[2]string][]byte{}
	}
	f.keys[k] = hash
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.keys, k)
	}, nil
}
