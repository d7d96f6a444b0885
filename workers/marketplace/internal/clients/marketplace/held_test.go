package marketplace_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/printfleet/printfleet/workers/marketplace/internal/clients/marketplace"
	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

// entered tells when a request for path reaches the client's transport,
// that is, after Send has taken note of its grant.
type entered struct {
	next http.RoundTripper
	path string
	ch   chan struct{}
}

func (e entered) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == e.path {
		close(e.ch)
	}
	return e.next.RoundTrip(r)
}

// sendBehind sends /first and, while the server keeps /first's answer
// back, /second under the same budget; with one connection per host,
// /second waits for /first's. The server then answers /first with status.
// It returns how many times /second reached the server, and its error.
func sendBehind(t *testing.T, status int) (int64, error) {
	t.Helper()
	inFirst, release := make(chan struct{}), make(chan struct{})
	var seconds atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/first":
			close(inFirst)
			<-release
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"error":"You have exceeded your rate limit."}`))
		case "/second":
			seconds.Add(1)
			_, _ = w.Write([]byte(`{}`))
		}
	}))
	defer srv.Close()
	tr := &http.Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	queued := make(chan struct{})
	c := marketplace.Options{HTTPClient: &http.Client{Transport: entered{next: tr, path: "/second", ch: queued}}}.Client(domain.Etsy)
	b := marketplace.NewBudgets().Get(domain.Etsy, "key", 10, 10)
	send := func(path string) chan error {
		done := make(chan error, 1)
		go func() {
			_, err := c.Send(context.Background(), nil, marketplace.Request{Op: path, Method: http.MethodGet, URL: srv.URL + path, Budget: b})
			done <- err
		}()
		return done
	}
	first := send("/first")
	<-inFirst
	second := send("/second")
	<-queued
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("/first: %v", err)
	}
	err := <-second
	return seconds.Load(), err
}

// TestARefusalHoldsBackARequestWaitingToBeWritten: a request granted before
// a 429 and still waiting for a connection when it arrives is not sent;
// Send says it was held back, so the caller waits on the budget again.
func TestARefusalHoldsBackARequestWaitingToBeWritten(t *testing.T) {
	t.Parallel()
	n, err := sendBehind(t, http.StatusTooManyRequests)
	if !errors.Is(err, marketplace.ErrHeld) {
		t.Fatalf("the request queued behind a 429 answered %v, want ErrHeld", err)
	}
	var de *domain.Error
	if !errors.As(err, &de) || de.Kind != domain.KindRetryable || de.Reason != domain.ReasonBudget {
		t.Fatalf("held back as %#v, want a retryable budget error", err)
	}
	if n != 0 {
		t.Fatalf("the held request reached the marketplace %d times", n)
	}
}

// TestAnAnswerThatIsNoRefusalHoldsNothingBack is the control: the same
// request behind an answer that is not a 429 is sent.
func TestAnAnswerThatIsNoRefusalHoldsNothingBack(t *testing.T) {
	t.Parallel()
	n, err := sendBehind(t, http.StatusServiceUnavailable)
	if err != nil || n != 1 {
		t.Fatalf("the request queued behind a 503: err %v, reached the server %d times; want sent once", err, n)
	}
}
