package principal

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/printfleet/printfleet/platform/errs"
)

func TestSignedPrincipalRoundTrip(t *testing.T) {
	t.Parallel()
	s, err := NewSigner("0123456789abcdef-secret")
	if err != nil {
		t.Fatal(err)
	}
	ctx := s.Outgoing(context.Background(), getOrder, Principal{Subject: "alice", Roles: []string{RoleUser, RoleAdmin}}, "req-1")
	md, _ := metadata.FromOutgoingContext(ctx)
	p, req, err := s.FromIncoming(md, getOrder)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "alice" || !p.IsAdmin() || !p.Has(RoleUser) || req != "req-1" {
		t.Fatalf("got %+v %q", p, req)
	}
}

const getOrder = "/printfleet.orders.v1.OrderService/GetOrder"

// TestReplayOnAnotherMethodIsRefused: a principal header captured on one call
// verifies for that method only — not for another method of the same service,
// nor for the same method name on another service.
func TestReplayOnAnotherMethodIsRefused(t *testing.T) {
	t.Parallel()
	s, _ := NewSigner("0123456789abcdef-secret")
	md, _ := metadata.FromOutgoingContext(s.Outgoing(context.Background(), getOrder, Principal{Subject: "service:orders-worker", Roles: []string{RoleService}}, "r"))
	if _, _, err := s.FromIncoming(md, getOrder); err != nil {
		t.Fatalf("the method it was minted for: %v", err)
	}
	for _, other := range []string{
		"/printfleet.orders.v1.OrderService/CancelOrder",
		"/printfleet.catalog.v1.CatalogService/GetOrder",
		"/printfleet.catalog.v1.CatalogService/GetStoreCredentials",
		"",
	} {
		if p, _, err := s.FromIncoming(md, other); !errors.Is(err, ErrBadSignature) {
			t.Errorf("replayed on %q: accepted as %+v (err %v)", other, p, err)
		}
	}
}

func TestTamperedOrStaleOrForeignIsRefused(t *testing.T) {
	t.Parallel()
	s, _ := NewSigner("0123456789abcdef-secret")
	other, _ := NewSigner("another-secret-of-16+")
	good := func() metadata.MD {
		md, _ := metadata.FromOutgoingContext(s.Outgoing(context.Background(), getOrder, Principal{Subject: "bob", Roles: []string{RoleUser}}, "r"))
		return md
	}
	cases := map[string]func() metadata.MD{
		"role escalation": func() metadata.MD { md := good(); md.Set(MDRoles, "user,admin"); return md },
		"subject swap":    func() metadata.MD { md := good(); md.Set(MDSubject, "alice"); return md },
		"no signature":    func() metadata.MD { md := good(); md.Delete(MDSig); return md },
		"foreign key": func() metadata.MD {
			md, _ := metadata.FromOutgoingContext(other.Outgoing(context.Background(), getOrder, Principal{Subject: "bob"}, "r"))
			return md
		},
		"stale": func() metadata.MD {
			old := *s
			old.now = func() time.Time { return time.Now().Add(-2 * MaxSkew) }
			md, _ := metadata.FromOutgoingContext(old.Outgoing(context.Background(), getOrder, Principal{Subject: "bob"}, "r"))
			return md
		},
	}
	for name, mk := range cases {
		if p, _, err := s.FromIncoming(mk(), getOrder); err == nil {
			t.Errorf("%s: accepted as %+v", name, p)
		}
	}
	if p, _, err := s.FromIncoming(metadata.MD{}, getOrder); err != nil || p.Authenticated() {
		t.Errorf("no metadata should be anonymous, got %+v %v", p, err)
	}
	if _, err := NewSigner("short"); err == nil {
		t.Error("short secret accepted")
	}
}

func TestRequire(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		p     Principal
		roles []string
		ok    bool
		want  errs.Kind
	}{
		{"anonymous", Anonymous, []string{RoleAdmin}, false, errs.Unauthenticated},
		{"anonymous without roles asked", Anonymous, nil, false, errs.Unauthenticated},
		{"wrong role", Principal{Subject: "u", Roles: []string{RoleUser}}, []string{RoleAdmin}, false, errs.PermissionDenied},
		{"any of", Principal{Subject: "u", Roles: []string{RoleFulfillment}}, []string{RoleAdmin, RoleFulfillment}, true, 0},
		{"authenticated only", Principal{Subject: "u"}, nil, true, 0},
	} {
		err := tc.p.Require(tc.roles...)
		if tc.ok {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errs.Is(err, tc.want) {
			t.Errorf("%s: got %v, want kind %v", tc.name, err, tc.want)
		}
	}
}

func TestRequireReader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		p    Principal
		want errs.Kind // 0: admitted
	}{
		{"anonymous", Anonymous, errs.Unauthenticated},
		{"user", Principal{Subject: "u", Roles: []string{RoleUser}}, errs.PermissionDenied},
		{"fulfillment", Principal{Subject: "f", Roles: []string{RoleFulfillment}}, errs.PermissionDenied},
		{"support", Principal{Subject: "s", Roles: []string{RoleSupport}}, 0},
		{"admin", Principal{Subject: "a", Roles: []string{RoleAdmin}}, 0},
	} {
		err := tc.p.RequireReader()
		if tc.want == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
		} else if !errs.Is(err, tc.want) {
			t.Errorf("%s: got %v, want kind %v", tc.name, err, tc.want)
		}
	}
}
