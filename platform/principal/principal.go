// Package principal carries the authenticated caller from the gateway to the
// services.
//
// Trust between processes is a shared secret (PRINTFLEET_INTERNAL_SECRET): the
// gateway, having verified the user's JWT, signs the principal (subject, roles,
// request id, issue time) together with its audience — the full gRPC method it
// is minted for, "/package.Service/Method", which names the target service —
// with HMAC-SHA256 and sends it as gRPC metadata. Services accept a principal
// only when the signature verifies for the method being called and the stamp
// is fresh, so a client that reaches a service port directly cannot claim to be
// anyone, and a header captured on one call cannot be replayed on another
// method or service. Internal callers (workers) sign as themselves with the
// "service" role.
package principal

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/errs"
)

// Roles.
const (
	RoleUser        = "user"
	RoleAdmin       = "admin"
	RoleFulfillment = "fulfillment"
	RoleService     = "service"
	// RoleSupport reads what an admin reads (every owner's orders, the
	// operator console) and changes nothing.
	RoleSupport = "support"
)

// Metadata keys.
const (
	MDSubject = "x-printfleet-sub"
	MDRoles   = "x-printfleet-roles"
	MDStamp   = "x-printfleet-ts"
	MDSig     = "x-printfleet-sig"
	MDRequest = "x-request-id"
	// MDIdempotencyKey carries the Idempotency-Key header.
	MDIdempotencyKey = "idempotency-key"
)

// MaxSkew is how old (or how far in the future) a signed stamp may be.
const MaxSkew = 5 * time.Minute

// Principal is an authenticated caller.
type Principal struct {
	Subject string
	Roles   []string
}

// Anonymous is the principal of an unauthenticated request.
var Anonymous = Principal{}

// Has reports whether p holds role.
func (p Principal) Has(role string) bool { return slices.Contains(p.Roles, role) }

// IsAdmin reports whether p is an admin.
func (p Principal) IsAdmin() bool { return p.Has(RoleAdmin) }

// ReadsAll reports whether p may read every owner's data: an admin or a
// support operator. Writes still need the admin role.
func (p Principal) ReadsAll() bool { return p.Has(RoleAdmin) || p.Has(RoleSupport) }

// Authenticated reports whether p has a subject.
func (p Principal) Authenticated() bool { return p.Subject != "" }

// Require admits p when it holds any of roles: an anonymous caller is
// errs.Unauthenticated, an authenticated one without the role
// errs.PermissionDenied. Every service's use cases check their caller with
// it, where the data is.
func (p Principal) Require(roles ...string) error {
	if !p.Authenticated() {
		return errs.E(errs.Unauthenticated, "authentication required")
	}
	for _, r := range roles {
		if p.Has(r) {
			return nil
		}
	}
	if len(roles) == 0 {
		return nil
	}
	return errs.E(errs.PermissionDenied, "the %s role is required", roles[0])
}

// RequireReader admits p when it may read every owner's data (ReadsAll):
// an anonymous caller is errs.Unauthenticated, anyone else without the
// admin or support role errs.PermissionDenied.
func (p Principal) RequireReader() error {
	if err := p.Require(); err != nil {
		return err
	}
	if !p.ReadsAll() {
		return errs.E(errs.PermissionDenied, "the admin or support role is required")
	}
	return nil
}

type ctxKey struct{}

// With returns ctx carrying p.
func With(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From returns the principal in ctx, or Anonymous.
func From(ctx context.Context) Principal {
	p, _ := ctx.Value(ctxKey{}).(Principal)
	return p
}

// Signer signs and verifies principals with the shared internal secret.
type Signer struct {
	key []byte
	now func() time.Time
}

// NewSigner returns a signer for secret. An empty secret is refused.
func NewSigner(secret string) (*Signer, error) {
	if len(secret) < 16 {
		return nil, errors.New("internal secret must be at least 16 bytes")
	}
	return &Signer{key: []byte(secret), now: time.Now}, nil
}

func (s *Signer) mac(method, sub, roles, reqID, ts string) string {
	m := hmac.New(sha256.New, s.key)
	for _, part := range []string{method, sub, roles, reqID, ts} {
		m.Write([]byte(part))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// Outgoing returns ctx with p and requestID attached as outgoing metadata
// signed for one call of method (the full gRPC method name,
// "/package.Service/Method"), replacing any principal metadata already there.
func (s *Signer) Outgoing(ctx context.Context, method string, p Principal, requestID string) context.Context {
	ts := strconv.FormatInt(s.now().Unix(), 10)
	roles := strings.Join(p.Roles, ",")
	md, _ := metadata.FromOutgoingContext(ctx)
	md = md.Copy()
	md.Set(MDSubject, p.Subject)
	md.Set(MDRoles, roles)
	md.Set(MDStamp, ts)
	md.Set(MDRequest, requestID)
	md.Set(MDSig, s.mac(method, p.Subject, roles, requestID, ts))
	return metadata.NewOutgoingContext(ctx, md)
}

// ErrBadSignature is returned when principal metadata is present but does not
// verify.
var ErrBadSignature = errors.New("principal signature invalid or stale")

// FromIncoming verifies the principal in incoming metadata of a call of
// method (the full gRPC method name): a signature minted for another method is
// refused. No principal metadata at all yields Anonymous and no error.
func (s *Signer) FromIncoming(md metadata.MD, method string) (Principal, string, error) {
	get := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	sig, sub, roles, ts, reqID := get(MDSig), get(MDSubject), get(MDRoles), get(MDStamp), get(MDRequest)
	if sig == "" && sub == "" && roles == "" {
		return Anonymous, reqID, nil
	}
	if !hmac.Equal([]byte(sig), []byte(s.mac(method, sub, roles, reqID, ts))) {
		return Anonymous, reqID, ErrBadSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Anonymous, reqID, ErrBadSignature
	}
	if d := s.now().Sub(time.Unix(sec, 0)); d > MaxSkew || d < -MaxSkew {
		return Anonymous, reqID, ErrBadSignature
	}
	p := Principal{Subject: sub}
	if roles != "" {
		p.Roles = strings.Split(roles, ",")
	}
	return p, reqID, nil
}

// Config is the shared internal secret every process reads.
type Config struct {
	InternalSecret config.Secret `env:"INTERNAL_SECRET, required"`
}

// NewSignerFromConfig is NewSigner(cfg.InternalSecret).
func NewSignerFromConfig(cfg Config) (*Signer, error) { return NewSigner(cfg.InternalSecret.Reveal()) }
