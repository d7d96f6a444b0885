package auth

import (
	"testing"
	"time"

	"github.com/printfleet/printfleet/platform/principal"
)

// TestVerifiedTokensExpire: a remembered token is admitted until its
// deadline and not at or after it; the table starts over instead of growing
// without bound.
func TestVerifiedTokensExpire(t *testing.T) {
	t.Parallel()
	var s verified
	now := time.Unix(1_700_000_000, 0)
	p := principal.Principal{Subject: "alice", Roles: []string{principal.RoleUser}}
	s.put("tok", p, now.Add(time.Minute))
	if got, ok := s.get("tok", now.Add(59*time.Second)); !ok || got.Subject != "alice" {
		t.Fatalf("before its deadline: %v %v", got, ok)
	}
	if _, ok := s.get("tok", now.Add(time.Minute)); ok {
		t.Fatal("admitted at its deadline")
	}
	if _, ok := s.get("tok", now); ok {
		t.Fatal("an expired entry was kept")
	}
	if _, ok := s.get("other", now); ok {
		t.Fatal("an unknown token was admitted")
	}
	for i := range verifiedMaxKeys + 1 {
		s.put(string(rune(i)), p, now.Add(time.Minute))
	}
	if len(s.m) > verifiedMaxKeys {
		t.Fatalf("%d entries", len(s.m))
	}
}
