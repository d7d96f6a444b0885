// Package errs is the closed set of error kinds printfleet code returns, and
// the one place where a kind becomes a gRPC status. Handlers return errors made
// here; the gRPC server interceptor maps them once at the edge.
package errs

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Kind classifies an error by what the caller can do about it.
type Kind uint8

// The kinds. Internal is the zero value so that an unclassified error is never
// reported to a client as anything else.
const (
	Internal            Kind = iota // a bug or an unexpected failure; details are never shown
	Invalid                         // the request is malformed; fix it and retry
	NotFound                        // no such object, or not the caller's
	AlreadyExists                   // the object exists
	Conflict                        // a concurrent change won; retry may succeed (in-flight idempotency key)
	FailedPrecondition              // the object is not in a state that allows this
	IdempotencyMismatch             // an idempotency key reused with another request body
	Unauthenticated                 // no valid credentials
	PermissionDenied                // valid credentials without the needed role
	ResourceExhausted               // over a limit
	Unavailable                     // a dependency is down; retry later
	DeadlineExceeded                // the caller's deadline passed
)

var kindNames = [...]string{
	Internal: "internal", Invalid: "invalid", NotFound: "not_found",
	AlreadyExists: "already_exists", Conflict: "conflict",
	FailedPrecondition: "failed_precondition", IdempotencyMismatch: "idempotency_mismatch",
	Unauthenticated: "unauthenticated", PermissionDenied: "permission_denied",
	ResourceExhausted: "resource_exhausted", Unavailable: "unavailable",
	DeadlineExceeded: "deadline_exceeded",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// ReasonIdempotencyMismatch is the ErrorInfo reason the gateway maps to 422.
const ReasonIdempotencyMismatch = "IDEMPOTENCY_KEY_REUSED"

// Domain is the ErrorInfo domain of printfleet's errors.
const Domain = "printfleet.dev"

// FieldViolation names a request field and what is wrong with it.
type FieldViolation struct {
	Field       string
	Description string
}

// Error is a classified error. Message is safe to show to a client; Err (the
// cause) is only logged.
type Error struct {
	Kind       Kind
	Message    string
	Violations []FieldViolation
	Err        error
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Message != "":
		return e.Message + ": " + e.Err.Error()
	case e.Err != nil:
		return e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// E makes an error of kind k with a client-safe message.
func E(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap classifies err as kind k with a client-safe message; err is kept as
// the cause for logs only.
func Wrap(k Kind, err error, msg string) *Error {
	return &Error{Kind: k, Message: msg, Err: err}
}

// Field makes an Invalid error naming one field.
func Field(field, description string) *Error {
	return &Error{
		Kind:       Invalid,
		Message:    field + ": " + description,
		Violations: []FieldViolation{{Field: field, Description: description}},
	}
}

// KindOf reports the kind of err: the kind of the first *Error in its chain,
// DeadlineExceeded or Unavailable for context errors, Internal otherwise.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case err == nil:
		return Internal
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, context.DeadlineExceeded):
		return DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return Unavailable
	}
	if s, ok := status.FromError(err); ok {
		return kindFromCode(s.Code())
	}
	return Internal
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

var codeOf = map[Kind]codes.Code{
	Internal:            codes.Internal,
	Invalid:             codes.InvalidArgument,
	NotFound:            codes.NotFound,
	AlreadyExists:       codes.AlreadyExists,
	Conflict:            codes.Aborted,
	FailedPrecondition:  codes.FailedPrecondition,
	IdempotencyMismatch: codes.FailedPrecondition,
	Unauthenticated:     codes.Unauthenticated,
	PermissionDenied:    codes.PermissionDenied,
	ResourceExhausted:   codes.ResourceExhausted,
	Unavailable:         codes.Unavailable,
	DeadlineExceeded:    codes.DeadlineExceeded,
}

// Code is the gRPC code of kind k.
func Code(k Kind) codes.Code { return codeOf[k] }

func kindFromCode(c codes.Code) Kind {
	switch c {
	case codes.InvalidArgument, codes.OutOfRange:
		return Invalid
	case codes.NotFound:
		return NotFound
	case codes.AlreadyExists:
		return AlreadyExists
	case codes.Aborted:
		return Conflict
	case codes.FailedPrecondition:
		return FailedPrecondition
	case codes.Unauthenticated:
		return Unauthenticated
	case codes.PermissionDenied:
		return PermissionDenied
	case codes.ResourceExhausted:
		return ResourceExhausted
	case codes.Unavailable:
		return Unavailable
	case codes.DeadlineExceeded:
		return DeadlineExceeded
	}
	return Internal
}

// Status converts err to the gRPC status a client sees. An existing gRPC
// status passes through unchanged (it was already mapped by a service we
// called). Internal errors are answered with a fixed message so that nothing
// internal leaks; callers log the cause.
func Status(err error) *status.Status {
	if err == nil {
		return status.New(codes.OK, "")
	}
	var e *Error
	if !errors.As(err, &e) {
		if s, ok := status.FromError(err); ok {
			return s
		}
		switch KindOf(err) {
		case DeadlineExceeded:
			return status.New(codes.DeadlineExceeded, "deadline exceeded")
		case Unavailable:
			return status.New(codes.Unavailable, "request cancelled")
		}
		return status.New(codes.Internal, "internal error")
	}
	msg := e.Message
	if e.Kind == Internal || msg == "" {
		msg = "internal error"
	}
	s := status.New(Code(e.Kind), msg)
	var details []protoDetail
	if len(e.Violations) > 0 {
		br := &errdetails.BadRequest{}
		for _, v := range e.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field: v.Field, Description: v.Description,
			})
		}
		details = append(details, br)
	}
	if e.Kind == IdempotencyMismatch {
		details = append(details, &errdetails.ErrorInfo{Reason: ReasonIdempotencyMismatch, Domain: Domain})
	}
	if len(details) > 0 {
		if ds, err := s.WithDetails(details...); err == nil {
			return ds
		}
	}
	return s
}
