package app

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/printfleet/printfleet/platform/webhooksig"
	"github.com/printfleet/printfleet/services/webhooks/internal/domain"
)

// RunDispatcher sends due deliveries until ctx ends. It claims as many as
// it has free workers (Concurrency), never more for one endpoint than that
// endpoint's free slots (EndpointConcurrency), so a slow or hanging
// endpoint holds at most its own slots. It claims again when woken (a new
// event, a redelivery, a finished attempt) and every Poll. When ctx ends it
// stops claiming and waits for the attempts in flight (each bounded by the
// poster's timeout); deliveries it did not start are still pending.
func (s *Service) RunDispatcher(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sendCtx := context.WithoutCancel(ctx)
	t := time.NewTicker(s.o.Poll)
	defer t.Stop()
	for {
		full := s.claimAndSend(ctx, sendCtx, &wg)
		if full {
			continue // more may be due
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

// claimAndSend claims due deliveries for the free workers and starts them;
// it reports whether it filled every free worker.
func (s *Service) claimAndSend(ctx, sendCtx context.Context, wg *sync.WaitGroup) bool {
	if ctx.Err() != nil {
		return false
	}
	s.mu.Lock()
	free := s.o.Concurrency - s.inflight
	busy := make(map[string]int, len(s.busy))
	for id, n := range s.busy {
		busy[id] = n
	}
	s.mu.Unlock()
	if free <= 0 {
		return false
	}
	claimed, err := s.o.Store.Claim(ctx, ClaimRequest{
		Now: s.now().UTC(), Lease: s.o.Lease, Limit: free, PerEndpoint: s.o.EndpointConcurrency, Busy: busy,
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "claim deliveries", "err", err)
		}
		return false
	}
	s.mu.Lock()
	for _, c := range claimed {
		s.busy[c.EndpointID]++
		s.inflight++
	}
	s.mu.Unlock()
	for _, c := range claimed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.attempt(sendCtx, c)
			s.mu.Lock()
			s.inflight--
			if s.busy[c.EndpointID]--; s.busy[c.EndpointID] <= 0 {
				delete(s.busy, c.EndpointID)
			}
			s.mu.Unlock()
			s.Wake()
		}()
	}
	return len(claimed) == free
}

// attempt sends one claimed delivery and records its outcome.
func (s *Service) attempt(ctx context.Context, c Claimed) {
	now := s.now().UTC()
	secrets, err := s.secrets(c, now)
	if err != nil {
		s.log.ErrorContext(ctx, "open signing secret", "endpoint_id", c.EndpointID, "err", err)
		return // the lease expires; an operator must fix the key
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "printfleet-webhooks/1")
	h.Set("Printfleet-Event-Id", c.EventID)
	h.Set("Printfleet-Event-Type", c.EventType)
	h.Set("Printfleet-Delivery-Id", c.DeliveryID)
	h.Set("Printfleet-Delivery-Attempt", strconv.Itoa(c.Attempt))
	h.Set(webhooksig.Header, webhooksig.Sign(now, c.Body, secrets...))
	res := s.o.Poster.Post(ctx, c.URL, h, c.Body)
	s.metrics.duration.Observe(res.Latency.Seconds())

	at := s.now().UTC()
	a := Attempt{
		DeliveryID: c.DeliveryID, EndpointID: c.EndpointID, Attempt: c.Attempt, At: at,
		ResponseStatus: res.Status, ResponseBody: truncate(res.Body, 1024), Latency: res.Latency,
		DisableFailingBefore: at.Add(-s.o.DisableAfter),
	}
	outcome := domain.OutcomeRetry
	if res.Err != nil {
		a.Error = truncate([]byte(res.Err.Error()), 512)
		a.ResponseStatus = 0
	} else {
		outcome = domain.Classify(res.Status)
	}
	switch outcome {
	case domain.OutcomeSucceeded:
		a.Status, a.Succeeded = domain.DeliverySucceeded, true
	case domain.OutcomeDisabled:
		a.Status, a.Disable = domain.DeliveryFailed, domain.ReasonGone
	default:
		if next, ok := s.o.Schedule.Next(c.Attempt, at); ok {
			a.Status, a.NextAttemptAt = domain.DeliveryPending, next
		} else {
			a.Status, outcome = domain.DeliveryFailed, domain.OutcomeFailed
		}
	}
	disabled, err := s.o.Store.RecordAttempt(ctx, a)
	if err != nil {
		s.log.WarnContext(ctx, "record delivery attempt", "delivery_id", c.DeliveryID, "err", err)
		return // the lease expires and the delivery is sent again
	}
	if disabled {
		outcome = domain.OutcomeDisabled
		s.log.InfoContext(ctx, "webhook endpoint disabled", "endpoint_id", c.EndpointID)
	}
	s.metrics.deliveries.WithLabelValues(string(outcome)).Inc()
}

// secrets opens the endpoint's secret, and its previous one while it is
// still valid.
func (s *Service) secrets(c Claimed, now time.Time) ([]string, error) {
	cur, err := s.o.Box.Open(c.SecretSealed, []byte(c.EndpointID))
	if err != nil {
		return nil, err
	}
	out := []string{string(cur)}
	if len(c.PrevSecretSealed) > 0 && now.Before(c.PrevSecretExpiresAt) {
		prev, err := s.o.Box.Open(c.PrevSecretSealed, []byte(c.EndpointID))
		if err != nil {
			return nil, err
		}
		out = append(out, string(prev))
	}
	return out, nil
}

// truncate keeps at most n bytes of b as valid UTF-8 without NULs (a text
// column takes neither invalid UTF-8 nor NUL).
func truncate(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return strings.ReplaceAll(strings.ToValidUTF8(string(b), "\uFFFD"), "\x00", "\uFFFD")
}
