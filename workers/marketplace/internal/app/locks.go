package app

import (
	"context"
	"sync"
)

// keyLocks serialises work on one key (a store's shipment) inside the
// process: two deliveries of the same OrderShipped handled at once would
// otherwise both read "not pushed yet" from a marketplace (Etsy) and both
// push.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	sem  chan struct{}
	refs int
}

// lock takes key's lock, waiting at most until ctx ends, and returns its
// release.
func (l *keyLocks) lock(ctx context.Context, key string) (func(), error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*keyLock{}
	}
	k, ok := l.m[key]
	if !ok {
		k = &keyLock{sem: make(chan struct{}, 1)}
		l.m[key] = k
	}
	k.refs++
	l.mu.Unlock()

	put := func() {
		l.mu.Lock()
		if k.refs--; k.refs == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
	select {
	case k.sem <- struct{}{}:
		return func() { <-k.sem; put() }, nil
	case <-ctx.Done():
		put()
		return nil, ctx.Err()
	}
}

// held reports how many keys are locked or waited for (tests).
func (l *keyLocks) held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
