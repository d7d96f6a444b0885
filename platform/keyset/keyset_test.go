package keyset

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
)

func TestTokenRoundTrips(t *testing.T) {
	at := time.Date(2026, 12, 3, 22, 1, 2, 345678901, time.UTC)
	id := uuid.NewString()
	gotAt, gotID, err := Parse(Token(at, id))
	if err != nil || !gotAt.Equal(at) || gotID != id {
		t.Fatalf("Parse(Token) = %v %q %v, want %v %q", gotAt, gotID, err, at, id)
	}
	if at, id, err := Parse(""); err != nil || !at.IsZero() || id != "" {
		t.Fatalf("Parse(\"\") = %v %q %v, want the first page", at, id, err)
	}
}

func TestParseRefusesMalformedTokens(t *testing.T) {
	for _, tok := range []string{"%%%", "bm90LWEtdG9rZW4", Token(time.Now(), "not-a-uuid")} {
		if _, _, err := Parse(tok); !errs.Is(err, errs.Invalid) {
			t.Errorf("Parse(%q) = %v, want InvalidArgument", tok, err)
		}
	}
}

func TestSize(t *testing.T) {
	for _, tc := range []struct {
		n     int32
		limit int
		want  int
	}{{0, 100, 50}, {-1, 100, 50}, {7, 100, 7}, {500, 200, 200}} {
		if got := Size(tc.n, tc.limit); got != tc.want {
			t.Errorf("Size(%d, %d) = %d, want %d", tc.n, tc.limit, got, tc.want)
		}
	}
}

func TestPage(t *testing.T) {
	type row struct {
		at time.Time
		id string
	}
	at := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	rows := []row{{at, uuid.NewString()}, {at.Add(-time.Second), uuid.NewString()}, {at.Add(-2 * time.Second), uuid.NewString()}}
	key := func(r row) (time.Time, string) { return r.at, r.id }
	if got, next := Page(rows, 3, key); len(got) != 3 || next != "" {
		t.Fatalf("Page(3 rows, 3) = %d rows, next %q; want all, no next page", len(got), next)
	}
	got, next := Page(rows, 2, key)
	if len(got) != 2 || next != Token(rows[1].at, rows[1].id) {
		t.Fatalf("Page(3 rows, 2) = %d rows, next %q; want 2 and the second row's token", len(got), next)
	}
}
