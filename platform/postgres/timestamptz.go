package postgres

import (
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// Timestamptz is t as a column value; the zero time is NULL.
func Timestamptz(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

// Time is a column's value in UTC; NULL is the zero time.
func Time(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}
