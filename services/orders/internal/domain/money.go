// Package domain is the order aggregate of printfleet: its state machine, its
// items, shipping address and money, and the invariants that hold whatever
// stores or transports them. It does no I/O.
package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"

	"github.com/printfleet/printfleet/platform/errs"
)

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

// Money is an amount in a currency's minor unit. The zero value is invalid
// (no currency); build it with NewMoney.
type Money struct {
	amount   int64
	currency string
}

// NewMoney returns amount minor units of currency (ISO 4217, upper case).
func NewMoney(amount int64, currency string) (Money, error) {
	if !currencyRE.MatchString(currency) {
		return Money{}, errs.Field("currency", "must be a 3-letter upper-case ISO 4217 code")
	}
	return Money{amount: amount, currency: currency}, nil
}

// MustMoney is NewMoney for constants in tests and code that already checked
// the currency.
func MustMoney(amount int64, currency string) Money {
	m, err := NewMoney(amount, currency)
	if err != nil {
		panic(err)
	}
	return m
}

// Amount is the amount in minor units.
func (m Money) Amount() int64 { return m.amount }

// Currency is the ISO 4217 code.
func (m Money) Currency() string { return m.currency }

// IsZero reports whether m is the zero value (no currency).
func (m Money) IsZero() bool { return m.currency == "" }

// Add returns m+o; both must share a currency.
func (m Money) Add(o Money) (Money, error) {
	if m.currency != o.currency {
		return Money{}, fmt.Errorf("add %s to %s: currency mismatch", o.currency, m.currency)
	}
	return Money{amount: m.amount + o.amount, currency: m.currency}, nil
}

func (m Money) String() string { return fmt.Sprintf("%d %s", m.amount, m.currency) }

type moneyJSON struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// MarshalJSON encodes m for caches and logs.
func (m Money) MarshalJSON() ([]byte, error) {
	if !plainCurrency(m.currency) {
		return json.Marshal(moneyJSON{m.amount, m.currency})
	}
	b := make([]byte, 0, 32+len(m.currency))
	b = append(b, `{"amount":`...)
	b = strconv.AppendInt(b, m.amount, 10)
	b = append(b, `,"currency":"`...)
	b = append(b, m.currency...)
	return append(b, `"}`...), nil
}

// plainCurrency reports whether c is ASCII letters only (JSON needs no
// escaping): every ISO 4217 code is.
func plainCurrency(c string) bool {
	for i := 0; i < len(c); i++ {
		if (c[i] < 'A' || c[i] > 'Z') && (c[i] < 'a' || c[i] > 'z') {
			return false
		}
	}
	return true
}

// UnmarshalJSON decodes what MarshalJSON wrote. The exact shape MarshalJSON
// writes for a plain currency is read without the reflection of
// encoding/json (order cache entries hold four amounts per order and one per
// item); anything else goes through encoding/json.
func (m *Money) UnmarshalJSON(b []byte) error {
	if rest, ok := bytes.CutPrefix(b, []byte(`{"amount":`)); ok {
		if i := bytes.IndexByte(rest, ','); i > 0 {
			if cur, ok := bytes.CutPrefix(rest[i:], []byte(`,"currency":"`)); ok {
				if cur, ok := bytes.CutSuffix(cur, []byte(`"}`)); ok && plainCurrency(string(cur)) {
					if n, err := strconv.ParseInt(string(rest[:i]), 10, 64); err == nil {
						*m = Money{amount: n, currency: string(cur)}
						return nil
					}
				}
			}
		}
	}
	var j moneyJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*m = Money{amount: j.Amount, currency: j.Currency}
	return nil
}
