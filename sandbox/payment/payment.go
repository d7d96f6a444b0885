// Package payment is a local stand-in for a Stripe-like payment provider: payment
// intents and refunds over form-encoded HTTP with bearer keys and idempotency keys,
// switchable faults (latency, errors, declines, outage) and a ledger of every charge
// so tests can assert that an order was charged exactly once.
package payment

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/printfleet/printfleet/sandbox/internal/sim"
)

// Options configure a Server.
type Options struct {
	// Faults are the switches at start.
	Faults Faults
	// Seed makes error and decline draws repeatable; 0 picks a random seed.
	Seed uint64
}

// Server is the payment provider: an http.Handler plus its fault switches and ledger.
type Server struct {
	mux  *http.ServeMux
	dice *sim.Dice

	mu      sync.Mutex
	faults  Faults
	idem    map[string]*idemEntry
	intents map[string]*PaymentIntent
	orderOf map[string]string // payment intent id → order id
	ledger  Ledger
	stats   Stats
	seq     int
}

// idemEntry is what an idempotency key remembers: the request it was first used with
// and, once that request finished, the reply to replay.
type idemEntry struct {
	request string
	done    bool
	status  int
	body    []byte
}

// New returns a healthy provider with the given start-up switches.
func New(o Options) *Server {
	s := &Server{dice: sim.NewDice(o.Seed), mux: http.NewServeMux()}
	s.resetLocked()
	s.faults = o.Faults
	s.mux.HandleFunc("POST /v1/payment_intents", s.mutation("payment_intents", s.createIntent))
	s.mux.HandleFunc("POST /v1/refunds", s.mutation("refunds", s.createRefund))
	s.mux.HandleFunc("GET /v1/payment_intents/{id}", s.getIntent)
	s.mux.HandleFunc("GET /_sandbox/faults", func(w http.ResponseWriter, r *http.Request) {
		sim.WriteJSON(w, http.StatusOK, s.Faults())
	})
	s.mux.HandleFunc("POST /_sandbox/faults", s.postFaults)
	s.mux.HandleFunc("GET /_sandbox/payments", func(w http.ResponseWriter, r *http.Request) {
		sim.WriteJSON(w, http.StatusOK, s.Payments())
	})
	s.mux.HandleFunc("GET /_sandbox/stats", func(w http.ResponseWriter, r *http.Request) {
		sim.WriteJSON(w, http.StatusOK, s.Stats())
	})
	s.mux.HandleFunc("POST /_sandbox/reset", func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, apiError{Type: "invalid_request_error",
			Message: fmt.Sprintf("Unrecognized request URL (%s: %s).", r.Method, r.URL.Path)})
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Faults returns the current switches.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetFaults replaces the switches.
func (s *Server) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	return nil
}

// Reset forgets every intent, refund, idempotency key and counter and heals all faults.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

func (s *Server) resetLocked() {
	s.faults = Faults{}
	s.idem = map[string]*idemEntry{}
	s.intents = map[string]*PaymentIntent{}
	s.orderOf = map[string]string{}
	s.ledger = Ledger{Charges: []Charge{}, Refunds: []RefundRecord{}, Orders: map[string]OrderSummary{}}
	s.stats = Stats{}
}

func (s *Server) postFaults(w http.ResponseWriter, r *http.Request) {
	var p faultsPatch
	if err := sim.DecodeJSON(w, r, &p); err != nil {
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON: " + err.Error()})
		return
	}
	s.mu.Lock()
	f := p.apply(s.faults)
	err := f.validate()
	if err == nil {
		s.faults = f
	}
	s.mu.Unlock()
	if err != nil {
		sim.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	sim.WriteJSON(w, http.StatusOK, f)
}

// reply is what an API operation answers; saved replies are replayed for their key.
type reply struct {
	status int
	body   any
	save   bool
}

// mutation wraps a POST endpoint with what every Stripe-like write goes through, in
// the provider's order: latency, authentication, outage, parsing, the idempotency key,
// injected errors, then the operation itself.
func (s *Server) mutation(endpoint string, op func(form url.Values, idemKey string) reply) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f := s.Faults()
		s.count(func(st *Stats) { st.Requests++ })
		if err := sim.Sleep(r.Context(), time.Duration(f.LatencyMS)*time.Millisecond); err != nil {
			return
		}
		w.Header().Set("Request-Id", "req_"+s.dice.Hex(14))
		apiKey, ok := bearerKey(r)
		if !ok {
			s.count(func(st *Stats) { st.AuthFailures++ })
			writeError(w, http.StatusUnauthorized, apiError{Type: "invalid_request_error",
				Message: "Invalid API Key provided. Provide your secret key as a bearer token (sk_test_...)."})
			return
		}
		if f.Outage {
			s.count(func(st *Stats) { st.OutageRejections++ })
			writeError(w, http.StatusServiceUnavailable, apiError{Type: "api_error",
				Message: "The payment provider is temporarily unavailable."})
			return
		}
		form, err := parseForm(w, r)
		if err != nil {
			s.count(func(st *Stats) { st.InvalidRequests++ })
			writeError(w, http.StatusBadRequest, apiError{Type: "invalid_request_error", Message: err.Error()})
			return
		}
		idemKey := r.Header.Get("Idempotency-Key")
		if len(idemKey) > 255 {
			s.count(func(st *Stats) { st.InvalidRequests++ })
			writeError(w, http.StatusBadRequest, apiError{Type: "invalid_request_error",
				Message: "Idempotency-Key must be at most 255 characters."})
			return
		}
		slot := apiKey + "\x00" + idemKey
		if idemKey != "" {
			request := endpoint + "?" + form.Encode() // Encode sorts by key
			s.mu.Lock()
			e, seen := s.idem[slot]
			switch {
			case seen && e.request != request:
				s.stats.IdempotencyConflicts++
				s.mu.Unlock()
				writeError(w, http.StatusBadRequest, apiError{Type: "idempotency_error",
					Message: "Keys for idempotent requests can only be used with the same parameters they were first used with."})
				return
			case seen && !e.done:
				s.stats.InFlightConflicts++
				s.mu.Unlock()
				writeError(w, http.StatusConflict, apiError{Type: "idempotency_error",
					Message: "There is currently another in-progress request using this idempotency key. Try again later."})
				return
			case seen:
				s.stats.Replays++
				status, body := e.status, e.body
				s.mu.Unlock()
				w.Header().Set("Idempotent-Replayed", "true")
				w.Header().Set("Idempotency-Key", idemKey)
				writeRaw(w, status, body)
				return
			}
			s.idem[slot] = &idemEntry{request: request}
			s.mu.Unlock()
			w.Header().Set("Idempotency-Key", idemKey)
		}
		if s.injectError() {
			s.forget(idemKey, slot)
			writeError(w, http.StatusInternalServerError, apiError{Type: "api_error",
				Message: "An unexpected error occurred on the provider's side (injected)."})
			return
		}
		rep := op(form, idemKey)
		body, err := json.Marshal(rep.body)
		if err != nil {
			s.forget(idemKey, slot)
			writeError(w, http.StatusInternalServerError, apiError{Type: "api_error", Message: "encode reply"})
			return
		}
		if idemKey != "" {
			s.mu.Lock()
			if rep.save {
				*s.idem[slot] = idemEntry{request: s.idem[slot].request, done: true, status: rep.status, body: body}
			} else {
				delete(s.idem, slot)
			}
			s.mu.Unlock()
		}
		writeRaw(w, rep.status, body)
	}
}

func (s *Server) forget(idemKey, slot string) {
	if idemKey == "" {
		return
	}
	s.mu.Lock()
	delete(s.idem, slot)
	s.mu.Unlock()
}

func (s *Server) injectError() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	hit := s.faults.ErrorNext > 0
	if hit {
		s.faults.ErrorNext--
	} else {
		hit = s.dice.Hit(s.faults.ErrorRate)
	}
	if hit {
		s.stats.InjectedErrors++
	}
	return hit
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// bearerKey accepts a secret test key as a bearer token or as the basic-auth user,
// as Stripe does.
func bearerKey(r *http.Request) (string, bool) {
	key := ""
	if u, _, ok := r.BasicAuth(); ok {
		key = u
	} else if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		key = strings.TrimSpace(h[7:])
	}
	return key, strings.HasPrefix(key, "sk_test_") && len(key) > len("sk_test_")
}

func parseForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, fmt.Errorf("content type %q is not supported; send application/x-www-form-urlencoded", ct)
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return nil, fmt.Errorf("invalid form body: %v", err)
	}
	return r.PostForm, nil
}

// apiError is the provider's error object, inside {"error": ...}.
type apiError struct {
	Type          string         `json:"type"`
	Code          string         `json:"code,omitempty"`
	DeclineCode   string         `json:"decline_code,omitempty"`
	Param         string         `json:"param,omitempty"`
	Message       string         `json:"message"`
	PaymentIntent *PaymentIntent `json:"payment_intent,omitempty"`
}

func errorBody(e apiError) map[string]apiError { return map[string]apiError{"error": e} }

func writeError(w http.ResponseWriter, status int, e apiError) {
	sim.WriteJSON(w, status, errorBody(e))
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	if !bytes.HasSuffix(body, []byte("\n")) {
		_, _ = w.Write([]byte("\n"))
	}
}
