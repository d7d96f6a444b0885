// Package receiver is a local stand-in for a seller's webhook endpoint: a
// test creates a receiver, points a webhook subscription at its URL and
// reads back every delivery it got (headers and raw body, to verify the
// signature), while switching how it answers — a status, a delay, a hang
// until the client gives up, a redirect — to drive printfleet's retries.
package receiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/printfleet/printfleet/sandbox/internal/sim"
)

// Limits keep memory bounded however long the sandbox runs.
const (
	// MaxDeliveries is how many deliveries a receiver keeps (the latest).
	MaxDeliveries = 1000
	// MaxBody is the largest body recorded; a larger one is answered 413.
	MaxBody = 1 << 20
	// MaxReceivers is how many receivers exist at once; the oldest goes first.
	MaxReceivers = 10000
	// MaxHang is how long a hanging receiver holds a request at most.
	MaxHang = 5 * time.Minute
	// maxDelay bounds Mode.DelayMS.
	maxDelay = 10 * time.Minute
)

// ErrNotFound is returned for an unknown receiver id.
var ErrNotFound = errors.New("receiver: no such receiver")

// Mode is how a receiver answers. The zero value answers 200 at once.
type Mode struct {
	Status     int    `json:"status"`      // answer status, default 200
	DelayMS    int    `json:"delay_ms"`    // wait before answering
	Hang       bool   `json:"hang"`        // answer only when the client gives up (or after MaxHang)
	RedirectTo string `json:"redirect_to"` // answer 302 with this Location
}

func (m Mode) validate() error {
	if m.Status != 0 && (m.Status < 200 || m.Status > 599) {
		return fmt.Errorf("status %d: want 200..599", m.Status)
	}
	if m.DelayMS < 0 || time.Duration(m.DelayMS)*time.Millisecond > maxDelay {
		return fmt.Errorf("delay_ms %d: want 0..%d", m.DelayMS, maxDelay.Milliseconds())
	}
	return nil
}

// Delivery is one request a receiver got.
type Delivery struct {
	ReceivedAt time.Time         `json:"received_at"`
	Method     string            `json:"method"`
	Headers    map[string]string `json:"headers"`  // canonical names; repeated values joined with ", "
	Body       string            `json:"body"`     // raw, as received
	Answered   int               `json:"answered"` // status sent; 0 while in flight or when the client left first
}

// Stats counts a receiver's requests.
type Stats struct {
	Received int64 `json:"received"`  // every request since creation, kept or not
	InFlight int64 `json:"in_flight"` // requests not answered yet
}

type receiver struct {
	mode       Mode
	changed    chan struct{} // closed and replaced on every mode change
	deliveries []*Delivery
	stats      Stats
}

// Server is the receivers' HTTP handler and their Go API. It is safe for
// concurrent use.
type Server struct {
	mux     *http.ServeMux
	dice    *sim.Dice
	maxHang time.Duration // MaxHang; shorter in tests

	mu        sync.Mutex
	receivers map[string]*receiver
	order     []string // creation order, to drop the oldest past MaxReceivers
}

// New returns a server with no receivers.
func New() *Server {
	s := &Server{mux: http.NewServeMux(), dice: sim.NewDice(0), maxHang: MaxHang, receivers: map[string]*receiver{}}
	s.mux.HandleFunc("POST /receivers", s.postReceiver)
	s.mux.HandleFunc("PUT /receivers/{id}/mode", s.putMode)
	s.mux.HandleFunc("GET /receivers/{id}/deliveries", s.getDeliveries)
	s.mux.HandleFunc("GET /receivers/{id}/stats", s.getStats)
	s.mux.HandleFunc("POST /r/{id}", s.receive)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint")
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Create makes a receiver answering per m and returns its id; its endpoint
// is POST /r/{id}.
func (s *Server) Create(m Mode) (string, error) {
	if err := m.validate(); err != nil {
		return "", err
	}
	id := s.dice.Hex(20)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.receivers[id] = &receiver{mode: m, changed: make(chan struct{})}
	s.order = append(s.order, id)
	for len(s.order) > MaxReceivers {
		delete(s.receivers, s.order[0])
		s.order = s.order[1:]
	}
	return id, nil
}

// SetMode changes how receiver id answers, at once: hanging requests are
// woken and answer per the new mode unless it hangs too.
func (s *Server) SetMode(id string, m Mode) error {
	if err := m.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rc, ok := s.receivers[id]
	if !ok {
		return ErrNotFound
	}
	rc.mode = m
	close(rc.changed)
	rc.changed = make(chan struct{})
	return nil
}

// Deliveries returns copies of the deliveries receiver id keeps, in arrival order.
func (s *Server) Deliveries(id string) ([]Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rc, ok := s.receivers[id]
	if !ok {
		return nil, ErrNotFound
	}
	out := make([]Delivery, len(rc.deliveries))
	for i, d := range rc.deliveries {
		out[i] = *d
	}
	return out, nil
}

// Stats returns receiver id's counters.
func (s *Server) Stats(id string) (Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rc, ok := s.receivers[id]
	if !ok {
		return Stats{}, ErrNotFound
	}
	return rc.stats, nil
}

func (s *Server) receive(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, readErr := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	d := &Delivery{ReceivedAt: time.Now().UTC(), Method: r.Method, Headers: map[string]string{}}
	for k, vs := range r.Header {
		d.Headers[k] = strings.Join(vs, ", ")
	}
	tooLarge := len(body) > MaxBody
	if tooLarge {
		body = body[:MaxBody]
	}
	d.Body = string(body)

	s.mu.Lock()
	rc, ok := s.receivers[id]
	if !ok {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "no such receiver")
		return
	}
	rc.deliveries = append(rc.deliveries, d)
	if len(rc.deliveries) > MaxDeliveries {
		rc.deliveries = append(rc.deliveries[:0:0], rc.deliveries[len(rc.deliveries)-MaxDeliveries:]...)
	}
	rc.stats.Received++
	rc.stats.InFlight++
	mode, changed := rc.mode, rc.changed
	s.mu.Unlock()

	status := 0
	defer func() {
		s.mu.Lock()
		d.Answered = status
		rc.stats.InFlight--
		s.mu.Unlock()
	}()
	if readErr != nil {
		return // the client is gone
	}
	if tooLarge {
		status = http.StatusRequestEntityTooLarge
		writeError(w, status, fmt.Sprintf("body over %d bytes", MaxBody))
		return
	}
	mode, ok = s.wait(r.Context(), rc, mode, changed)
	if !ok {
		return // the client gave up before the answer
	}
	if mode.RedirectTo != "" {
		status = http.StatusFound
		w.Header().Set("Location", mode.RedirectTo)
		w.WriteHeader(status)
		return
	}
	status = mode.Status
	if status == 0 {
		status = http.StatusOK
	}
	sim.WriteJSON(w, status, map[string]any{"received": true})
}

// wait applies the delay and the hang of mode, following mode changes while
// hanging. It returns the mode to answer with, or false when the client left.
func (s *Server) wait(ctx context.Context, rc *receiver, mode Mode, changed chan struct{}) (Mode, bool) {
	if err := sim.Sleep(ctx, time.Duration(mode.DelayMS)*time.Millisecond); err != nil {
		return mode, false
	}
	if !mode.Hang {
		return mode, true
	}
	limit := time.NewTimer(s.maxHang)
	defer limit.Stop()
	for mode.Hang {
		select {
		case <-ctx.Done():
			return mode, false
		case <-limit.C:
			return mode, true
		case <-changed:
			s.mu.Lock()
			mode, changed = rc.mode, rc.changed
			s.mu.Unlock()
		}
	}
	return mode, true
}

func (s *Server) postReceiver(w http.ResponseWriter, r *http.Request) {
	var m Mode
	if !decodeMode(w, r, &m) {
		return
	}
	id, err := s.Create(m)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sim.WriteJSON(w, http.StatusCreated, map[string]string{"id": id, "url": "http://" + r.Host + "/r/" + id})
}

func (s *Server) putMode(w http.ResponseWriter, r *http.Request) {
	var m Mode
	if !decodeMode(w, r, &m) {
		return
	}
	switch err := s.SetMode(r.PathValue("id"), m); {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "no such receiver")
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		sim.WriteJSON(w, http.StatusOK, m)
	}
}

func (s *Server) getDeliveries(w http.ResponseWriter, r *http.Request) {
	ds, err := s.Deliveries(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusNotFound, "no such receiver")
		return
	}
	sim.WriteJSON(w, http.StatusOK, map[string]any{"deliveries": ds})
}

func (s *Server) getStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.Stats(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusNotFound, "no such receiver")
		return
	}
	sim.WriteJSON(w, http.StatusOK, st)
}

// decodeMode reads an optional Mode body; an empty body is the zero Mode.
func decodeMode(w http.ResponseWriter, r *http.Request, m *Mode) bool {
	err := sim.DecodeJSON(w, r, m)
	if err == nil || errors.Is(err, io.EOF) {
		return true
	}
	writeError(w, http.StatusBadRequest, "body: "+err.Error())
	return false
}

func writeError(w http.ResponseWriter, status int, msg string) {
	sim.WriteJSON(w, status, map[string]string{"error": msg})
}
