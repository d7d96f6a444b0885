// Package keyset encodes the position of a keyset page, (created_at, id),
// as an opaque page token, and bounds page sizes. Tokens need no signature:
// every query they continue is scoped to what the caller may see, so an
// edited token only moves the caller within its own rows.
package keyset

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/platform/errs"
)

// Token encodes the position after the row (createdAt, id).
func Token(createdAt time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(createdAt.UnixNano(), 10) + "|" + id))
}

// Parse decodes a token of Token; the empty token is the first page (zero
// values). A malformed token is an InvalidArgument error on page_token.
func Parse(tok string) (time.Time, string, error) {
	if tok == "" {
		return time.Time{}, "", nil
	}
	bad := errs.Field("page_token", "invalid page token")
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return time.Time{}, "", bad
	}
	ns, id, ok := strings.Cut(string(raw), "|")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || uuid.Validate(id) != nil {
		return time.Time{}, "", bad
	}
	return time.Unix(0, n).UTC(), id, nil
}

// Size is the page size asked for, 50 when unset, at most limit.
func Size(n int32, limit int) int {
	if n <= 0 {
		return 50
	}
	return min(int(n), limit)
}

// Page cuts rows, read with a limit of n+1, to one page of n and returns the
// token of the next page ("" when rows held no more than n). key gives a
// row's position (created_at, id).
func Page[T any](rows []T, n int, key func(T) (time.Time, string)) ([]T, string) {
	if len(rows) <= n {
		return rows, ""
	}
	rows = rows[:n]
	return rows, Token(key(rows[n-1]))
}
