// Package app holds the dead-letter use cases: parking what the .dlq
// consumers receive, reading them decoded, and the operator's actions
// (replay one, replay a queue, discard), each audited and idempotent by its
// action id. The caller is passed explicitly and checked here.
package app

import (
	"context"
	"encoding/base64"

	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/keyset"
	"github.com/printfleet/printfleet/platform/log"
	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/ops/internal/domain"
	"github.com/printfleet/printfleet/services/ops/internal/events"
)

// Options are the Service's collaborators and settings.
type Options struct {
	Store    Store
	Replayer Replayer
	Broker   Broker
	// Queues are the consumer queues whose .dlq is parked.
	Queues     []string
	Log        *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Service is the dead-letter use cases.
type Service struct {
	store    Store
	replayer Replayer
	broker   Broker
	queues   []string
	log      *slog.Logger
	now      func() time.Time
	parked   *prometheus.CounterVec
	actions  *prometheus.CounterVec
}

// New returns the Service; its metrics go to o.Registerer when set.
func New(o Options) *Service {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{
		store: o.Store, replayer: o.Replayer, broker: o.Broker, queues: slices.Clone(o.Queues), log: o.Log, now: o.Now,
		parked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "printfleet_ops_dead_letters_parked_total",
			Help: "Dead letters parked (first arrivals and re-parks after a failed replay), by consumer queue.",
		}, []string{"queue"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "printfleet_ops_actions_total",
			Help: "Operator actions on dead letters, by action and outcome (ok, repeated, refused, error).",
		}, []string{"action", "outcome"}),
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(s.parked, s.actions, &parkedGauge{svc: s})
	}
	return s
}

// Queues are the consumer queues the service parks.
func (s *Service) Queues() []string { return slices.Clone(s.queues) }

// Incoming is one message read from <Queue>.dlq.
type Incoming struct {
	Queue       string
	MessageID   string
	Type        string
	Body        []byte
	ContentType string
	Headers     map[string]string
	MessageTime time.Time
	Reason      string
	Attempts    int
}

// Park stores one dead letter; a duplicate of a parked one changes nothing.
func (s *Service) Park(ctx context.Context, in Incoming) error {
	l := domain.DeadLetter{
		ID: uuid.NewString(), Queue: in.Queue, MessageID: in.MessageID, Type: in.Type, Body: in.Body,
		ContentType: in.ContentType, Headers: in.Headers, MessageTime: in.MessageTime, Reason: in.Reason,
		Attempts: in.Attempts, State: domain.Parked, TimesDeadLettered: 1, DeadLetteredAt: s.now().UTC(),
	}
	if l.MessageID == "" {
		// Without an id a duplicate cannot be told apart: key it by content.
		l.MessageID = "sha:" + uuid.NewSHA1(uuid.NameSpaceOID, append([]byte(in.Type+"\x00"), in.Body...)).String()
	}
	if d, err := events.Decode(in.Type, in.Body); err == nil {
		l.OrderID = d.OrderID
	}
	changed, err := s.store.Park(ctx, l)
	if err != nil {
		return err
	}
	if changed {
		s.parked.WithLabelValues(in.Queue).Inc()
		s.log.InfoContext(ctx, "dead letter parked", "queue", in.Queue, "message_id", l.MessageID, "type", in.Type, "reason", in.Reason)
	}
	return nil
}

// View is a dead letter with its body decoded for reading.
type View struct {
	domain.DeadLetter
	BodyJSON   string
	BodyError  string
	BodyBase64 string
}

func view(l domain.DeadLetter) View {
	v := View{DeadLetter: l}
	d, err := events.Decode(l.Type, l.Body)
	if err != nil {
		v.BodyError = err.Error()
		v.BodyBase64 = base64.StdEncoding.EncodeToString(l.Body)
		return v
	}
	v.BodyJSON = d.JSON
	return v
}

// ListInput pages through dead letters.
type ListInput struct {
	Queue     string
	State     domain.State // Parked when empty
	OrderID   string
	PageSize  int32
	PageToken string
}

// ListDeadLetters pages through dead letters, newest first.
func (s *Service) ListDeadLetters(ctx context.Context, p principal.Principal, in ListInput) ([]View, string, error) {
	if err := p.RequireReader(); err != nil {
		return nil, "", err
	}
	at, id, err := keyset.Parse(in.PageToken)
	if err != nil {
		return nil, "", err
	}
	if in.State == "" {
		in.State = domain.Parked
	}
	n := keyset.Size(in.PageSize, 200)
	ls, err := s.store.List(ctx, Filter{Queue: in.Queue, State: in.State, OrderID: in.OrderID, AfterTime: at, AfterID: id, Limit: n + 1})
	if err != nil {
		return nil, "", err
	}
	ls, next := keyset.Page(ls, n, func(l domain.DeadLetter) (time.Time, string) { return l.DeadLetteredAt, l.ID })
	out := make([]View, len(ls))
	for i, l := range ls {
		out[i] = view(l)
	}
	return out, next, nil
}

// GetDeadLetter returns one dead letter decoded.
func (s *Service) GetDeadLetter(ctx context.Context, p principal.Principal, id string) (View, error) {
	if err := p.RequireReader(); err != nil {
		return View{}, err
	}
	l, err := s.store.Get(ctx, id)
	if err != nil {
		return View{}, err
	}
	return view(l), nil
}

// AuditInput pages through the audit log.
type AuditInput struct {
	Target    string
	PageSize  int32
	PageToken string
}

// ListAudit pages through the audit log, newest first.
func (s *Service) ListAudit(ctx context.Context, p principal.Principal, in AuditInput) ([]domain.AuditEntry, string, error) {
	if err := p.RequireReader(); err != nil {
		return nil, "", err
	}
	at, id, err := keyset.Parse(in.PageToken)
	if err != nil {
		return nil, "", err
	}
	n := keyset.Size(in.PageSize, 200)
	es, err := s.store.ListAudit(ctx, AuditFilter{Target: in.Target, AfterTime: at, AfterID: id, Limit: n + 1})
	if err != nil {
		return nil, "", err
	}
	es, next := keyset.Page(es, n, func(e domain.AuditEntry) (time.Time, string) { return e.CreatedAt, e.ID })
	return es, next, nil
}

// QueueStats is one consumer queue's depths and parked letters.
type QueueStats struct {
	Queue    string
	Depth    int64 // -1 when unknown
	DLQDepth int64 // -1 when unknown
	Parked   int64
}

// depthTimeout bounds the broker questions of one ListQueues.
const depthTimeout = 3 * time.Second

// ListQueues returns every consumer queue with its depths and parked count.
func (s *Service) ListQueues(ctx context.Context, p principal.Principal) ([]QueueStats, error) {
	if err := p.RequireReader(); err != nil {
		return nil, err
	}
	parked, err := s.store.CountParked(ctx)
	if err != nil {
		return nil, err
	}
	bctx, cancel := context.WithTimeout(ctx, depthTimeout)
	defer cancel()
	depth := func(q string) int64 {
		if bctx.Err() != nil {
			return -1
		}
		n, err := s.broker.QueueDepth(bctx, q)
		if err != nil {
			return -1
		}
		return int64(n)
	}
	out := make([]QueueStats, 0, len(s.queues))
	for _, q := range s.queues {
		out = append(out, QueueStats{Queue: q, Depth: depth(q), DLQDepth: depth(q + ".dlq"), Parked: parked[q]})
	}
	return out, nil
}

// ActionInput is an operator action on one letter or one queue.
type ActionInput struct {
	ID       string // the letter (replay, discard)
	Queue    string // the queue (replay queue)
	ActionID string
	Reason   string
}

// ReplayDeadLetter publishes a parked letter to its queue again.
func (s *Service) ReplayDeadLetter(ctx context.Context, p principal.Principal, in ActionInput) (domain.AuditEntry, error) {
	return s.act(ctx, p, domain.ActionReplay, in.ID, in, Selection{ID: in.ID}, s.replay)
}

// ReplayQueue replays every letter of a queue that is PARKED now.
func (s *Service) ReplayQueue(ctx context.Context, p principal.Principal, in ActionInput) (domain.AuditEntry, error) {
	if err := p.Require(principal.RoleAdmin); err != nil {
		s.actions.WithLabelValues(domain.ActionReplayQueue, "refused").Inc()
		return domain.AuditEntry{}, err
	}
	if !slices.Contains(s.queues, in.Queue) {
		s.actions.WithLabelValues(domain.ActionReplayQueue, "refused").Inc()
		return domain.AuditEntry{}, errs.Field("queue", "not a consumer queue")
	}
	return s.act(ctx, p, domain.ActionReplayQueue, in.Queue, in, Selection{Queue: in.Queue}, s.replay)
}

// DiscardDeadLetter drops a parked letter; the reason is required.
func (s *Service) DiscardDeadLetter(ctx context.Context, p principal.Principal, in ActionInput) (domain.AuditEntry, error) {
	if len(strings.TrimSpace(in.Reason)) < domain.MinReasonLen {
		if err := p.Require(principal.RoleAdmin); err != nil {
			return domain.AuditEntry{}, err
		}
		s.actions.WithLabelValues(domain.ActionDiscard, "refused").Inc()
		return domain.AuditEntry{}, errs.Field("reason", "a reason of at least 3 characters is required to discard")
	}
	return s.act(ctx, p, domain.ActionDiscard, in.ID, in, Selection{ID: in.ID},
		func(_ context.Context, a domain.AuditEntry, ls []*domain.DeadLetter) error {
			for _, l := range ls {
				if err := l.Discard(a.Actor, a.Reason, a.CreatedAt); err != nil {
					return err
				}
			}
			return nil
		})
}

func (s *Service) replay(ctx context.Context, a domain.AuditEntry, ls []*domain.DeadLetter) error {
	for _, l := range ls {
		if err := l.Replay(a.Actor, a.Reason, a.CreatedAt); err != nil {
			return err
		}
	}
	if len(ls) == 0 {
		return nil
	}
	if err := s.replayer.Replay(ctx, ls); err != nil {
		return errs.Wrap(errs.Unavailable, err, "replay not confirmed by the broker; nothing was changed")
	}
	return nil
}

// act checks the caller, then runs one audited action.
func (s *Service) act(ctx context.Context, p principal.Principal, action, target string, in ActionInput, sel Selection,
	fn func(context.Context, domain.AuditEntry, []*domain.DeadLetter) error) (domain.AuditEntry, error) {
	if err := p.Require(principal.RoleAdmin); err != nil {
		s.actions.WithLabelValues(action, "refused").Inc()
		return domain.AuditEntry{}, err
	}
	a := domain.AuditEntry{
		ID: uuid.NewString(), ActionID: in.ActionID, Actor: p.Subject, Action: action, Target: target,
		Reason: in.Reason, RequestID: log.RequestID(ctx), CreatedAt: s.now().UTC().Truncate(time.Microsecond),
	}
	got, first, err := s.store.Act(ctx, a, sel, func(ctx context.Context, ls []*domain.DeadLetter) error { return fn(ctx, a, ls) })
	switch {
	case err != nil && (errs.Is(err, errs.FailedPrecondition) || errs.Is(err, errs.NotFound) || errs.Is(err, errs.Invalid) || errs.Is(err, errs.IdempotencyMismatch)):
		s.actions.WithLabelValues(action, "refused").Inc()
		return domain.AuditEntry{}, err
	case err != nil:
		s.actions.WithLabelValues(action, "error").Inc()
		return domain.AuditEntry{}, err
	case !first:
		s.actions.WithLabelValues(action, "repeated").Inc()
		if got.Action != action || got.Target != target {
			return domain.AuditEntry{}, errs.E(errs.IdempotencyMismatch, "action_id was used for another action")
		}
		return got, nil
	}
	s.actions.WithLabelValues(action, "ok").Inc()
	s.log.InfoContext(ctx, "dead letter action", "action", action, "target", target, "actor", p.Subject, "affected", got.Affected)
	return got, nil
}

// parkedGauge reads the PARKED letters by queue at scrape time.
type parkedGauge struct{ svc *Service }

var parkedDesc = prometheus.NewDesc("printfleet_ops_dead_letters_parked",
	"Dead letters parked and waiting for an operator, by consumer queue (read at scrape time).", []string{"queue"}, nil)

func (g *parkedGauge) Describe(ch chan<- *prometheus.Desc) { ch <- parkedDesc }

func (g *parkedGauge) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := g.svc.store.CountParked(ctx)
	if err != nil {
		g.svc.log.Warn("count parked dead letters", "err", err)
		return
	}
	for _, q := range g.svc.queues {
		ch <- prometheus.MustNewConstMetric(parkedDesc, prometheus.GaugeValue, float64(counts[q]), q)
	}
}
