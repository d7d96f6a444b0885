package marketplace

import (
	"context"
	"sync"
	"time"

	"github.com/printfleet/printfleet/workers/marketplace/internal/app"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
	"golang.org/x/sync/singleflight"
)

// Token is a store's OAuth token pair.
type Token struct {
	Access  string
	Refresh string
	Expiry  time.Time // zero when unknown
}

// expiresWithin reports whether the token is known to expire within d.
func (t Token) expiresWithin(d time.Duration) bool {
	return !t.Expiry.IsZero() && time.Until(t.Expiry) < d
}

// RefreshFunc exchanges a refresh token for a new token pair.
type RefreshFunc func(ctx context.Context, refreshToken string) (Token, error)

// TokenKeeper keeps stores' refreshed tokens beyond the process (the
// catalog, sealed with the rest of the credentials).
type TokenKeeper interface {
	// SavedTokens returns the store's tokens as last saved.
	SavedTokens(ctx context.Context, storeID string) (access, refresh string, err error)
	// SaveTokens saves a store's new tokens.
	SaveTokens(ctx context.Context, storeID, access, refresh string) error
}

// Locker takes a lock shared by every replica (Redis).
type Locker interface {
	Lock(ctx context.Context, key string) (release func(), err error)
}

// Tokens holds the freshest token of every store and refreshes each store's token
// at most once at a time, however many pushes find it expired together. With a
// Keeper and a Lock, that holds across replicas and restarts too: a refresh
// runs under the store's shared lock, first adopts a token another replica
// saved meanwhile, and saves the token it gets, so a marketplace that rotates
// refresh tokens never sees an old one again.
type Tokens struct {
	onRefresh func(domain.Store, domain.Credentials)
	timeout   time.Duration
	// Keeper and Lock are optional (set before use).
	Keeper TokenKeeper
	Lock   Locker

	mu sync.Mutex
	m  map[string]*tokenEntry
	sf singleflight.Group
}

// tokenEntry is a store's current token and the credentials it was seeded from; new
// credentials on the Store (a reconnect) replace it. A Store read before a
// refresh (carrying a token in old) or after it was saved (carrying tok) does
// not: the entry is at least as new.
type tokenEntry struct {
	seedAccess, seedRefresh string
	tok                     Token
	old                     map[string]bool // access tokens this entry has superseded
}

// set replaces the entry's token.
func (e *tokenEntry) set(nt Token) {
	if e.tok.Access != "" && e.tok.Access != nt.Access {
		e.old[e.tok.Access] = true
	}
	e.tok = nt
}

// NewTokens returns an empty token cache; onRefresh, if not nil, is told each
// store's new credentials so they can be saved.
func NewTokens(onRefresh func(domain.Store, domain.Credentials)) *Tokens {
	return &Tokens{onRefresh: onRefresh, timeout: 15 * time.Second, m: map[string]*tokenEntry{}}
}

func tokenKey(s domain.Store) string { return string(s.Marketplace) + "/" + s.ID }

var _ app.Tokens = (*Tokens)(nil)

// Secrets returns the store's freshest known access and refresh tokens, so
// that a token refreshed during a push is redacted from what leaves the
// process.
func (t *Tokens) Secrets(s domain.Store) []string {
	cur := t.Current(s)
	return []string{cur.Access, cur.Refresh}
}

// Current returns the store's freshest known token.
func (t *Tokens) Current(s domain.Store) Token {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.entryLocked(s).tok
}

func (t *Tokens) entryLocked(s domain.Store) *tokenEntry {
	key := tokenKey(s)
	c := s.Credentials
	e, ok := t.m[key]
	if ok && (e.seedAccess == c.AccessToken && e.seedRefresh == c.RefreshToken ||
		c.AccessToken != "" && (c.AccessToken == e.tok.Access || e.old[c.AccessToken])) {
		return e
	}
	ne := &tokenEntry{seedAccess: c.AccessToken, seedRefresh: c.RefreshToken,
		tok: Token{Access: c.AccessToken, Refresh: c.RefreshToken}, old: map[string]bool{}}
	if ok {
		// New credentials (a reconnect): a push still holding the replaced
		// ones gets these.
		for a := range e.old {
			ne.old[a] = true
		}
		for _, a := range []string{e.tok.Access, e.seedAccess} {
			if a != "" && a != c.AccessToken {
				ne.old[a] = true
			}
		}
	}
	t.m[key] = ne
	return ne
}

// Refresh replaces the store's access token stale. If another push already replaced
// it, the newer token is returned without a call; concurrent callers share one call.
func (t *Tokens) Refresh(ctx context.Context, s domain.Store, stale string, fn RefreshFunc) (Token, error) {
	if cur := t.Current(s); cur.Access != "" && cur.Access != stale {
		return cur, nil
	}
	key := tokenKey(s)
	ch := t.sf.DoChan(key, func() (any, error) {
		t.mu.Lock()
		e := t.entryLocked(s)
		cur := e.tok
		t.mu.Unlock()
		if cur.Access != "" && cur.Access != stale {
			return cur, nil // refreshed by a flight that ended just before this one
		}
		// The refresh outlives a caller that gives up, so the others still get it.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.timeout)
		defer cancel()
		if t.Lock != nil {
			release, err := t.Lock.Lock(rctx, "token/"+key)
			if err != nil {
				return nil, &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonUnavailable, Marketplace: s.Marketplace,
					Op: "refresh token", Message: "cannot take the store's refresh lock", Err: err}
			}
			defer release()
		}
		if t.Keeper != nil {
			access, refresh, err := t.Keeper.SavedTokens(rctx, s.ID)
			if err != nil {
				return nil, &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonUnavailable, Marketplace: s.Marketplace,
					Op: "refresh token", Message: "cannot read the store's saved tokens", Err: err}
			}
			if access != "" && access != stale && access != e.seedAccess && access != cur.Access {
				// Another replica refreshed (and saved) while this one waited.
				nt := Token{Access: access, Refresh: refresh}
				t.mu.Lock()
				e.set(nt)
				t.mu.Unlock()
				tokenRefreshes.WithLabelValues(string(s.Marketplace), "adopted").Inc()
				return nt, nil
			}
			if refresh != "" {
				cur.Refresh = refresh
			}
		}
		if cur.Refresh == "" {
			return nil, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonAuth, Marketplace: s.Marketplace,
				Op: "refresh token", Message: "the access token was refused and the store has no refresh token"}
		}
		nt, err := fn(rctx, cur.Refresh)
		if err != nil {
			return nil, err
		}
		if nt.Refresh == "" {
			nt.Refresh = cur.Refresh
		}
		t.mu.Lock()
		e.set(nt)
		t.mu.Unlock()
		tokenRefreshes.WithLabelValues(string(s.Marketplace), "ok").Inc()
		if t.Keeper != nil {
			// Saved before the lock is released: the next replica to refresh
			// reads this pair, not the refresh token just spent.
			if err := t.Keeper.SaveTokens(rctx, s.ID, nt.Access, nt.Refresh); err != nil {
				tokenRefreshes.WithLabelValues(string(s.Marketplace), "unsaved").Inc()
			}
		}
		if t.onRefresh != nil {
			c := s.Credentials
			c.AccessToken, c.RefreshToken = nt.Access, nt.Refresh
			t.onRefresh(s, c)
		}
		return nt, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return Token{}, r.Err
		}
		return r.Val.(Token), nil
	case <-ctx.Done():
		return Token{}, &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonCanceled, Marketplace: s.Marketplace,
			Op: "refresh token", Err: ctx.Err()}
	}
}

// Auth manages a store's OAuth token during one push: it refreshes first when
// there is no usable token, and at most once after the marketplace refuses one.
type Auth struct {
	Tokens  *Tokens
	Store   domain.Store
	Refresh RefreshFunc

	refreshed bool
}

// Token returns the access token to send.
func (a *Auth) Token(ctx context.Context) (string, error) {
	cur := a.Tokens.Current(a.Store)
	if cur.Access != "" && !cur.expiresWithin(time.Minute) {
		return cur.Access, nil
	}
	if cur.Refresh == "" {
		if cur.Access != "" {
			return cur.Access, nil
		}
		return "", &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonAuth, Marketplace: a.Store.Marketplace,
			Op: "authorize", Message: "the store has neither an access token nor a refresh token"}
	}
	a.refreshed = true
	nt, err := a.Tokens.Refresh(ctx, a.Store, cur.Access, a.Refresh)
	return nt.Access, err
}

// Refused handles the marketplace refusing token stale: the first time it
// refreshes and returns true (send again); after that it returns false.
func (a *Auth) Refused(ctx context.Context, stale string) (bool, error) {
	if a.refreshed {
		return false, nil
	}
	a.refreshed = true
	_, err := a.Tokens.Refresh(ctx, a.Store, stale, a.Refresh)
	return err == nil, err
}
