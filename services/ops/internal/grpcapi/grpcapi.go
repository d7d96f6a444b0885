// Package grpcapi serves opsv1.DeadLetterService: it converts between the
// protobuf messages and the use cases' types, reads the caller
// (principal.From) and passes it on, and holds no business logic. Errors
// are errs kinds, mapped to gRPC codes once by the platform server.
package grpcapi

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/principal"
	opsv1 "github.com/printfleet/printfleet/proto/printfleet/ops/v1"
	"github.com/printfleet/printfleet/services/ops/internal/app"
	"github.com/printfleet/printfleet/services/ops/internal/domain"
)

// Server implements opsv1.DeadLetterServiceServer.
type Server struct {
	opsv1.UnimplementedDeadLetterServiceServer
	app *app.Service
}

// New returns the gRPC facade of svc.
func New(svc *app.Service) *Server { return &Server{app: svc} }

// ListQueues implements opsv1.DeadLetterServiceServer.
func (s *Server) ListQueues(ctx context.Context, _ *opsv1.ListQueuesRequest) (*opsv1.ListQueuesResponse, error) {
	qs, err := s.app.ListQueues(ctx, principal.From(ctx))
	if err != nil {
		return nil, err
	}
	out := &opsv1.ListQueuesResponse{}
	for _, q := range qs {
		out.Queues = append(out.Queues, &opsv1.QueueStats{Queue: q.Queue, Depth: q.Depth, DlqDepth: q.DLQDepth, Parked: q.Parked})
	}
	return out, nil
}

// ListDeadLetters implements opsv1.DeadLetterServiceServer.
func (s *Server) ListDeadLetters(ctx context.Context, req *opsv1.ListDeadLettersRequest) (*opsv1.ListDeadLettersResponse, error) {
	vs, next, err := s.app.ListDeadLetters(ctx, principal.From(ctx), app.ListInput{
		Queue: req.GetQueue(), State: toDomainState(req.GetState()), OrderID: req.GetOrderId(),
		PageSize: req.GetPageSize(), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	out := &opsv1.ListDeadLettersResponse{NextPageToken: next}
	for _, v := range vs {
		out.DeadLetters = append(out.DeadLetters, toProtoDeadLetter(v))
	}
	return out, nil
}

// GetDeadLetter implements opsv1.DeadLetterServiceServer.
func (s *Server) GetDeadLetter(ctx context.Context, req *opsv1.GetDeadLetterRequest) (*opsv1.DeadLetter, error) {
	v, err := s.app.GetDeadLetter(ctx, principal.From(ctx), req.GetId())
	if err != nil {
		return nil, err
	}
	return toProtoDeadLetter(v), nil
}

// ReplayDeadLetter implements opsv1.DeadLetterServiceServer.
func (s *Server) ReplayDeadLetter(ctx context.Context, req *opsv1.ReplayDeadLetterRequest) (*opsv1.ActionResult, error) {
	a, err := s.app.ReplayDeadLetter(ctx, principal.From(ctx), app.ActionInput{ID: req.GetId(), ActionID: req.GetActionId(), Reason: req.GetReason()})
	return toProtoResult(a, err)
}

// ReplayQueue implements opsv1.DeadLetterServiceServer.
func (s *Server) ReplayQueue(ctx context.Context, req *opsv1.ReplayQueueRequest) (*opsv1.ActionResult, error) {
	a, err := s.app.ReplayQueue(ctx, principal.From(ctx), app.ActionInput{Queue: req.GetQueue(), ActionID: req.GetActionId(), Reason: req.GetReason()})
	return toProtoResult(a, err)
}

// DiscardDeadLetter implements opsv1.DeadLetterServiceServer.
func (s *Server) DiscardDeadLetter(ctx context.Context, req *opsv1.DiscardDeadLetterRequest) (*opsv1.ActionResult, error) {
	a, err := s.app.DiscardDeadLetter(ctx, principal.From(ctx), app.ActionInput{ID: req.GetId(), ActionID: req.GetActionId(), Reason: req.GetReason()})
	return toProtoResult(a, err)
}

// ListAudit implements opsv1.DeadLetterServiceServer.
func (s *Server) ListAudit(ctx context.Context, req *opsv1.ListAuditRequest) (*opsv1.ListAuditResponse, error) {
	es, next, err := s.app.ListAudit(ctx, principal.From(ctx), app.AuditInput{
		Target: req.GetTarget(), PageSize: req.GetPageSize(), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	out := &opsv1.ListAuditResponse{NextPageToken: next}
	for _, e := range es {
		out.Entries = append(out.Entries, toProtoAudit(e))
	}
	return out, nil
}

func toProtoResult(a domain.AuditEntry, err error) (*opsv1.ActionResult, error) {
	if err != nil {
		return nil, err
	}
	return &opsv1.ActionResult{Audit: toProtoAudit(a), Affected: int32(a.Affected)}, nil
}

func toProtoAudit(a domain.AuditEntry) *opsv1.AuditEntry {
	return &opsv1.AuditEntry{
		Id: a.ID, ActionId: a.ActionID, Actor: a.Actor, Action: a.Action, Target: a.Target, Reason: a.Reason,
		Affected: int32(a.Affected), RequestId: a.RequestID, CreatedAt: stamp(a.CreatedAt),
	}
}

func toProtoDeadLetter(v app.View) *opsv1.DeadLetter {
	return &opsv1.DeadLetter{
		Id: v.ID, Queue: v.Queue, MessageId: v.MessageID, Type: v.Type,
		BodyJson: v.BodyJSON, BodyError: v.BodyError, BodyBase64: v.BodyBase64,
		Reason: v.Reason, Attempts: int32(v.Attempts), Headers: v.Headers, State: toProtoState(v.State),
		OrderId: v.OrderID, DeadLetteredAt: stamp(v.DeadLetteredAt), TimesDeadLettered: int32(v.TimesDeadLettered),
		ResolvedBy: v.ResolvedBy, ResolutionReason: v.ResolutionReason, ResolvedAt: stamp(v.ResolvedAt),
	}
}

func stamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func toProtoState(s domain.State) opsv1.DeadLetterState {
	switch s {
	case domain.Parked:
		return opsv1.DeadLetterState_DEAD_LETTER_STATE_PARKED
	case domain.Replayed:
		return opsv1.DeadLetterState_DEAD_LETTER_STATE_REPLAYED
	case domain.Discarded:
		return opsv1.DeadLetterState_DEAD_LETTER_STATE_DISCARDED
	}
	return opsv1.DeadLetterState_DEAD_LETTER_STATE_UNSPECIFIED
}

func toDomainState(s opsv1.DeadLetterState) domain.State {
	switch s {
	case opsv1.DeadLetterState_DEAD_LETTER_STATE_REPLAYED:
		return domain.Replayed
	case opsv1.DeadLetterState_DEAD_LETTER_STATE_DISCARDED:
		return domain.Discarded
	}
	return domain.Parked
}
