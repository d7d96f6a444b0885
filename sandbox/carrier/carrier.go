// Package carrier is a local stand-in for a parcel carrier's tracking
// notifications: a test asks it to report a status of a tracking number
// (POST /track) and it posts a signed update to printfleet's gateway, as a
// carrier would, with its own event id; GET /track/{tracking_number} lists
// what it sent and what the gateway answered.
package carrier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/printfleet/printfleet/platform/webhooksig"
)

// Limits keep memory bounded however long the sandbox runs.
const (
	// MaxSent is how many updates are kept per tracking number (the latest).
	MaxSent = 100
	// MaxTracked is how many tracking numbers are kept; the oldest goes
	// first.
	MaxTracked = 10000
	// MaxAnswer is how much of the gateway's answer is kept.
	MaxAnswer = 4 << 10
)

// SignatureHeader is the header the gateway verifies.
const SignatureHeader = "Printfleet-Carrier-Signature"

// Options configure the carrier.
type Options struct {
	// GatewayURL is where updates go: <GatewayURL>/v1/carrier-updates.
	GatewayURL string
	// Secret signs the updates.
	Secret string
	// Client posts them (nil: a client with a 10s timeout).
	Client *http.Client
	// Now is the clock of the signatures and of occurred_at (nil: time.Now).
	Now func() time.Time
}

// TrackRequest is the body of POST /track. Status is IN_TRANSIT,
// OUT_FOR_DELIVERY, DELIVERED or EXCEPTION. EventID and OccurredAt are
// optional: the carrier makes a fresh event id and uses now. SignedAt,
// when set, signs with that time instead of now (to send a stale
// signature); BadSignature signs with a wrong secret.
type TrackRequest struct {
	Carrier        string    `json:"carrier"`
	TrackingNumber string    `json:"tracking_number"`
	Status         string    `json:"status"`
	EventID        string    `json:"event_id,omitempty"`
	OccurredAt     time.Time `json:"occurred_at,omitzero"`
	SignedAt       time.Time `json:"signed_at,omitzero"`
	BadSignature   bool      `json:"bad_signature,omitempty"`
}

// Update is what was posted to the gateway.
type Update struct {
	EventID        string    `json:"event_id"`
	Carrier        string    `json:"carrier"`
	TrackingNumber string    `json:"tracking_number"`
	Status         string    `json:"status"`
	OccurredAt     time.Time `json:"occurred_at"`
}

// Sent is one update and the gateway's answer (AnswerStatus 0 and Error
// when the post failed).
type Sent struct {
	Update       Update          `json:"update"`
	SentAt       time.Time       `json:"sent_at"`
	AnswerStatus int             `json:"answer_status"`
	Answer       json.RawMessage `json:"answer,omitempty"`
	Error        string          `json:"error,omitempty"`
}

// Carrier is the stand-in's HTTP handler.
type Carrier struct {
	o    Options
	mux  *http.ServeMux
	seq  atomic.Int64
	mu   sync.Mutex
	sent map[string][]Sent
	// order is the tracking numbers by first use, for eviction.
	order []string
}

// New returns a carrier posting to o.GatewayURL.
func New(o Options) *Carrier {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &Carrier{o: o, mux: http.NewServeMux(), sent: map[string][]Sent{}}
	c.mux.HandleFunc("POST /track", c.track)
	c.mux.HandleFunc("GET /track/{tracking_number}", c.list)
	return c
}

func (c *Carrier) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.mux.ServeHTTP(w, r) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (c *Carrier) track(w http.ResponseWriter, r *http.Request) {
	var req TrackRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
		return
	}
	if req.Carrier == "" || req.TrackingNumber == "" || req.Status == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "carrier, tracking_number and status are required"})
		return
	}
	s := c.Send(r.Context(), req)
	writeJSON(w, http.StatusOK, s)
}

// Send posts one signed update and records it with the answer.
func (c *Carrier) Send(ctx context.Context, req TrackRequest) Sent {
	now := c.o.Now().UTC()
	u := Update{EventID: req.EventID, Carrier: req.Carrier, TrackingNumber: req.TrackingNumber,
		Status: req.Status, OccurredAt: req.OccurredAt.UTC()}
	if u.EventID == "" {
		u.EventID = fmt.Sprintf("sbx-%d-%d", now.UnixNano(), c.seq.Add(1))
	}
	if req.OccurredAt.IsZero() {
		u.OccurredAt = now
	}
	s := Sent{Update: u, SentAt: now}
	body, _ := json.Marshal(u)
	signedAt, secret := now, c.o.Secret
	if !req.SignedAt.IsZero() {
		signedAt = req.SignedAt
	}
	if req.BadSignature {
		secret = "not-" + secret
	}
	s.AnswerStatus, s.Answer, s.Error = c.post(ctx, body, webhooksig.Sign(signedAt, body, secret))
	c.record(s)
	return s
}

func (c *Carrier) post(ctx context.Context, body []byte, sig string) (int, json.RawMessage, string) {
	if c.o.GatewayURL == "" {
		return 0, nil, "no gateway URL configured"
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.o.GatewayURL+"/v1/carrier-updates", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err.Error()
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set(SignatureHeader, sig)
	resp, err := c.o.Client.Do(hr)
	if err != nil {
		return 0, nil, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer))
	if err != nil && !errors.Is(err, io.EOF) {
		return resp.StatusCode, nil, err.Error()
	}
	if !json.Valid(b) {
		b, _ = json.Marshal(string(b))
	}
	return resp.StatusCode, b, ""
}

func (c *Carrier) record(s Sent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := s.Update.TrackingNumber
	if _, ok := c.sent[n]; !ok {
		c.order = append(c.order, n)
		if len(c.order) > MaxTracked {
			delete(c.sent, c.order[0])
			c.order = c.order[1:]
		}
	}
	list := append(c.sent[n], s)
	if len(list) > MaxSent {
		list = list[len(list)-MaxSent:]
	}
	c.sent[n] = list
}

// SentFor lists what was sent for a tracking number, oldest first.
func (c *Carrier) SentFor(trackingNumber string) []Sent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Sent{}, c.sent[trackingNumber]...)
}

func (c *Carrier) list(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"updates": c.SentFor(r.PathValue("tracking_number"))})
}
