package marketplace_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{"0.5", 500 * time.Millisecond, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"", 0, false},
		{"-1", 0, false},
		{"soon", 0, false},
	}
	for _, tc := range tests {
		got, ok := marketplace.ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		kind   domain.Kind
		reason domain.Reason
	}{
		{429, domain.KindRetryable, domain.ReasonThrottled},
		{500, domain.KindRetryable, domain.ReasonUnavailable},
		{503, domain.KindRetryable, domain.ReasonUnavailable},
		{408, domain.KindRetryable, domain.ReasonUnavailable},
		{400, domain.KindPermanent, domain.ReasonInvalid},
		{422, domain.KindPermanent, domain.ReasonInvalid},
		{401, domain.KindPermanent, domain.ReasonAuth},
		{403, domain.KindPermanent, domain.ReasonAuth},
		{404, domain.KindPermanent, domain.ReasonNotFound},
	}
	for _, tc := range tests {
		e := marketplace.Classify(domain.Etsy, "op", &marketplace.Response{Status: tc.status, Header: http.Header{"Retry-After": {"2"}}})
		if e.Kind != tc.kind || e.Reason != tc.reason {
			t.Errorf("%d: %v %v", tc.status, e.Kind, e.Reason)
		}
		if errors.Is(e, domain.ErrRetryable) != (tc.kind == domain.KindRetryable) || errors.Is(e, domain.ErrPermanent) == (tc.kind == domain.KindRetryable) {
			t.Errorf("%d: sentinels don't match the kind", tc.status)
		}
		if tc.status == 429 && e.RetryAfter != 2*time.Second {
			t.Errorf("429 retry after = %v", e.RetryAfter)
		}
	}
	wrapped := fmt.Errorf("push: %w", marketplace.Classify(domain.Amazon, "op", &marketplace.Response{Status: 503}))
	if !domain.IsRetryable(wrapped) || domain.IsPermanent(wrapped) || domain.ReasonOf(wrapped) != domain.ReasonUnavailable {
		t.Fatal("classification is lost through wrapping")
	}
}

func retryable(after time.Duration) error {
	return &domain.Error{Kind: domain.KindRetryable, Reason: domain.ReasonThrottled, RetryAfter: after}
}

func TestRetryDo(t *testing.T) {
	t.Parallel()
	fast := marketplace.Retry{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

	t.Run("succeeds after transient errors", func(t *testing.T) {
		t.Parallel()
		n := 0
		err := fast.Do(context.Background(), func(context.Context) error {
			if n++; n < 3 {
				return retryable(0)
			}
			return nil
		})
		if err != nil || n != 3 {
			t.Fatalf("err=%v tries=%d", err, n)
		}
	})
	t.Run("stops on a permanent error", func(t *testing.T) {
		t.Parallel()
		n := 0
		err := fast.Do(context.Background(), func(context.Context) error {
			n++
			return &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonInvalid}
		})
		if !domain.IsPermanent(err) || n != 1 {
			t.Fatalf("err=%v tries=%d", err, n)
		}
	})
	t.Run("bounded attempts", func(t *testing.T) {
		t.Parallel()
		n := 0
		err := fast.Do(context.Background(), func(context.Context) error { n++; return retryable(0) })
		if !domain.IsRetryable(err) || n != 4 {
			t.Fatalf("err=%v tries=%d", err, n)
		}
	})
	t.Run("honours retry-after", func(t *testing.T) {
		t.Parallel()
		var times []time.Time
		_ = fast.Do(context.Background(), func(context.Context) error {
			times = append(times, time.Now())
			if len(times) == 1 {
				return retryable(150 * time.Millisecond)
			}
			return nil
		})
		if gap := times[1].Sub(times[0]); gap < 150*time.Millisecond {
			t.Fatalf("retried after %v, before the 150ms asked", gap)
		}
	})
	t.Run("gives up rather than wait past the deadline", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		began := time.Now()
		n := 0
		err := fast.Do(ctx, func(context.Context) error { n++; return retryable(time.Hour) })
		if !domain.IsRetryable(err) || n != 1 || time.Since(began) > 90*time.Millisecond {
			t.Fatalf("err=%v tries=%d after %v", err, n, time.Since(began))
		}
	})
	t.Run("non-adapter errors are not retried", func(t *testing.T) {
		t.Parallel()
		n := 0
		_ = fast.Do(context.Background(), func(context.Context) error { n++; return errors.New("boom") })
		if n != 1 {
			t.Fatalf("tries=%d", n)
		}
	})
}

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	t.Parallel()
	p := marketplace.Retry{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 8: time.Second, 60: time.Second} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := p.Backoff(attempt)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, want/2, want)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Fatalf("attempt %d: no jitter", attempt)
		}
	}
}

func TestTokensRefreshOncePerStore(t *testing.T) {
	t.Parallel()
	var calls, saved atomic.Int32
	tokens := marketplace.NewTokens(func(s domain.Store, c domain.Credentials) {
		saved.Add(1)
		if c.AccessToken != "new" || c.RefreshToken != "r2" {
			t.Errorf("saved %q/%q", c.AccessToken, c.RefreshToken)
		}
	})
	store := domain.Store{ID: "s1", Marketplace: domain.Etsy, Credentials: domain.Credentials{AccessToken: "old", RefreshToken: "r1"}}
	refresh := func(ctx context.Context, rt string) (marketplace.Token, error) {
		calls.Add(1)
		if rt != "r1" {
			t.Errorf("refresh token %q", rt)
		}
		time.Sleep(20 * time.Millisecond)
		return marketplace.Token{Access: "new", Refresh: "r2"}, nil
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			tok, err := tokens.Refresh(context.Background(), store, "old", refresh)
			if err != nil || tok.Access != "new" {
				t.Errorf("got %q, %v", tok.Access, err)
			}
		})
	}
	wg.Wait()
	// A push that saw the old token refused after the refresh finished gets the new
	// one without another call.
	if tok, _ := tokens.Refresh(context.Background(), store, "old", refresh); tok.Access != "new" {
		t.Fatalf("late caller got %q", tok.Access)
	}
	if calls.Load() != 1 || saved.Load() != 1 {
		t.Fatalf("refresh calls = %d, saves = %d; want 1 and 1", calls.Load(), saved.Load())
	}
	// New credentials on the store (saved or reconnected) replace the cache.
	store.Credentials.AccessToken, store.Credentials.RefreshToken = "reconnected", "r9"
	if cur := tokens.Current(store); cur.Access != "reconnected" {
		t.Fatalf("current = %q", cur.Access)
	}
}

func TestTokensWithoutRefreshTokenIsPermanent(t *testing.T) {
	t.Parallel()
	tokens := marketplace.NewTokens(nil)
	store := domain.Store{ID: "s", Marketplace: domain.Amazon, Credentials: domain.Credentials{AccessToken: "a"}}
	_, err := tokens.Refresh(context.Background(), store, "a", func(context.Context, string) (marketplace.Token, error) {
		t.Fatal("refresh called without a refresh token")
		return marketplace.Token{}, nil
	})
	if !domain.IsPermanent(err) || domain.ReasonOf(err) != domain.ReasonAuth {
		t.Fatalf("err = %v", err)
	}
}

func TestBudget(t *testing.T) {
	t.Parallel()
	bs := marketplace.NewBudgets()
	b := bs.Get(domain.Amazon, "store", 20, 2)
	if bs.Get(domain.Amazon, "store", 1, 1) != b || bs.Get(domain.Etsy, "store", 20, 2) == b {
		t.Fatal("budgets are per (marketplace, key)")
	}
	ctx := context.Background()
	began := time.Now()
	for range 4 { // burst 2, then 2 more at 20/s
		done, err := b.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		done()
	}
	if el := time.Since(began); el < 80*time.Millisecond {
		t.Fatalf("4 requests at 20/s burst 2 took %v", el)
	}
	b.Spend(time.Hour)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	began = time.Now()
	_, err := b.Wait(short)
	if domain.ReasonOf(err) != domain.ReasonBudget || !domain.IsRetryable(err) || time.Since(began) > 45*time.Millisecond {
		t.Fatalf("paused budget: %v after %v", err, time.Since(began))
	}
	b.Learn(5, 7)
	if r, burst := b.Limit(); r != 5 || burst != 7 {
		t.Fatalf("limit = %v/%d", r, burst)
	}
}

func TestCarrier(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"USPS": "usps", "United States Postal Service": "usps", "UPS": "ups",
		"FedEx Ground": "fedex", "DHL Express": "dhl", "Royal Mail": "Royal Mail"} {
		if got := marketplace.Carrier(in); got != want {
			t.Errorf("Carrier(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRouter(t *testing.T) {
	t.Parallel()
	_, err := marketplace.Router{}.PushShipment(context.Background(), domain.Store{Marketplace: "ebay"}, domain.Shipment{})
	if !domain.IsPermanent(err) {
		t.Fatalf("err = %v", err)
	}
}

// After a throttle, requests that waited out the pause together leave one
// per token interval, not as a burst, until the marketplace answers again.
func TestBudgetAfterThrottleReleasesOneAtATime(t *testing.T) {
	t.Parallel()
	b := marketplace.NewBudgets().Get(domain.Etsy, "key", 20, 10)
	b.Learn(20, 10)
	b.Spend(100 * time.Millisecond)
	if _, burst := b.Limit(); burst != 1 {
		t.Fatalf("burst while throttled = %d, want 1", burst)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var mu sync.Mutex
	var times []time.Time
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			done, err := b.Wait(ctx)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			times = append(times, time.Now())
			mu.Unlock()
			done() // the answer: none, so still throttled
		})
	}
	wg.Wait()
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < 40*time.Millisecond {
			t.Fatalf("requests %d and %d left %v apart; at 20/s one at a time is 50ms", i-1, i, gap)
		}
	}
	// An answer ends the pacing: the announced burst is back.
	b.Learn(20, 0)
	if r, burst := b.Limit(); r != 20 || burst != 10 {
		t.Fatalf("limit after an answer = %v/%d, want 20/10", r, burst)
	}
	time.Sleep(300 * time.Millisecond)
	began := time.Now()
	for range 4 { // not throttled: no request waits for another's answer
		if _, err := b.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(began); el > 30*time.Millisecond {
		t.Fatalf("4 requests with 6 tokens saved took %v", el)
	}
}

// While throttled, a request leaves only once the one before it has been
// answered: the rate alone would send it while a slow 429 was on its way,
// after the marketplace had said when to come back.
func TestBudgetWhileThrottledAwaitsTheAnswer(t *testing.T) {
	t.Parallel()
	b := marketplace.NewBudgets().Get(domain.Etsy, "key", 50, 10)
	b.Spend(0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	first, err := b.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	left := make(chan time.Time, 1)
	go func() {
		done, err := b.Wait(ctx)
		if err != nil {
			t.Error(err)
		}
		left <- time.Now()
		done()
	}()
	select {
	case at := <-left:
		t.Fatalf("a request left at %v while the first was unanswered", at)
	case <-time.After(200 * time.Millisecond): // ten tokens' worth at 50/s
	}
	// The slow answer is a 429 asking for 300ms.
	answered := time.Now()
	b.Spend(300 * time.Millisecond)
	first()
	if at := <-left; at.Sub(answered) < 300*time.Millisecond {
		t.Fatalf("the next request left %v after a 429 that asked for 300ms", at.Sub(answered))
	}
	// An answer waiting out a pause longer than the deadline fails at once.
	hold, err := b.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.Spend(time.Hour)
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	began := time.Now()
	if _, err := b.Wait(short); domain.ReasonOf(err) != domain.ReasonBudget || time.Since(began) > 500*time.Millisecond {
		t.Fatalf("waiting behind an unanswered request through an hour's pause: %v after %v", err, time.Since(began))
	}
	hold()
}

// keeper is the catalog's saved tokens, shared by the replicas of a test.
type keeper struct {
	mu              sync.Mutex
	access, refresh string
	saves           int
}

func (k *keeper) SavedTokens(context.Context, string) (string, string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.access, k.refresh, nil
}

func (k *keeper) SaveTokens(_ context.Context, _ string, access, refresh string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.access, k.refresh, k.saves = access, refresh, k.saves+1
	return nil
}

// oneLock is a lock shared by the replicas of a test.
type oneLock struct{ mu sync.Mutex }

func (l *oneLock) Lock(context.Context, string) (func(), error) { l.mu.Lock(); return l.mu.Unlock, nil }

// Three replicas find a store's token refused at once: one exchanges the
// refresh token (which the marketplace rotates) and saves the pair, the
// others adopt it; a push holding the store as read before the refresh, and
// the store as read after it was saved, both get the new token.
func TestTokensRefreshOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	k := &keeper{access: "old", refresh: "r1"}
	lock := &oneLock{}
	var calls atomic.Int32
	refresh := func(ctx context.Context, rt string) (marketplace.Token, error) {
		if calls.Add(1) > 1 || rt != "r1" {
			return marketplace.Token{}, &domain.Error{Kind: domain.KindPermanent, Reason: domain.ReasonAuth, Message: "invalid_grant " + rt}
		}
		time.Sleep(20 * time.Millisecond)
		return marketplace.Token{Access: "new", Refresh: "r2"}, nil
	}
	store := domain.Store{ID: "s1", Marketplace: domain.Etsy, Credentials: domain.Credentials{AccessToken: "old", RefreshToken: "r1"}}
	replicas := make([]*marketplace.Tokens, 3)
	for i := range replicas {
		replicas[i] = marketplace.NewTokens(nil)
		replicas[i].Keeper, replicas[i].Lock = k, lock
	}
	var wg sync.WaitGroup
	for _, r := range replicas {
		wg.Go(func() {
			tok, err := r.Refresh(context.Background(), store, "old", refresh)
			if err != nil || tok.Access != "new" {
				t.Errorf("got %q, %v", tok.Access, err)
			}
		})
	}
	wg.Wait()
	if calls.Load() != 1 || k.saves != 1 || k.access != "new" || k.refresh != "r2" {
		t.Fatalf("exchanges %d, saves %d, saved %q/%q; want one exchange saving new/r2", calls.Load(), k.saves, k.access, k.refresh)
	}
	saved := store
	saved.Credentials.AccessToken, saved.Credentials.RefreshToken = "new", "r2"
	for _, s := range []domain.Store{store, saved, store} {
		if cur := replicas[0].Current(s); cur.Access != "new" {
			t.Fatalf("current for a store holding %q = %q, want new", s.Credentials.AccessToken, cur.Access)
		}
	}
}
