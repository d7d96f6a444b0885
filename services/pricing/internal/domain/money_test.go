package domain

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"testing/quick"
)

func TestRoundHalfEven(t *testing.T) {
	t.Parallel()
	tests := []struct {
		num, den int64
		want     int64
	}{
		{0, 1, 0},
		{1, 2, 0}, // 0.5 → 0 (even)
		{3, 2, 2}, // 1.5 → 2
		{5, 2, 2}, // 2.5 → 2
		{7, 2, 4}, // 3.5 → 4
		{249, 100, 2},
		{251, 100, 3},
		{2499999, 1000000, 2},
		{2500001, 1000000, 3},
		{1, 3, 0},
		{2, 3, 1},
		{-1, 2, 0},  // −0.5 → 0
		{-3, 2, -2}, // −1.5 → −2
		{-5, 2, -2}, // −2.5 → −2
		{-7, 2, -4},
		{-251, 100, -3},
		{10, 1, 10},
	}
	for _, tt := range tests {
		got := RoundHalfEven(big.NewRat(tt.num, tt.den))
		if !got.IsInt64() || got.Int64() != tt.want {
			t.Errorf("RoundHalfEven(%d/%d) = %v, want %d", tt.num, tt.den, got, tt.want)
		}
	}
}

func TestRoundToMinorRefusesNegative(t *testing.T) {
	t.Parallel()
	if _, err := RoundToMinor(big.NewRat(-1, 3)); !errors.Is(err, ErrNegativeAmount) {
		t.Fatalf("err = %v, want ErrNegativeAmount", err)
	}
	// A tiny positive value rounds to zero, never below.
	if got, err := RoundToMinor(big.NewRat(1, 1_000_000)); err != nil || got != 0 {
		t.Fatalf("got %d, %v", got, err)
	}
}

func TestConvertRoundingTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		amount   int64
		from, to string
		rate     string
		want     int64
	}{
		{"same currency", 1999, "USD", "USD", "1", 1999},
		{"exact", 1000, "USD", "EUR", "0.92", 920},
		{"half down to even", 25, "USD", "EUR", "0.1", 2},      // 2.5 → 2
		{"half up to even", 35, "USD", "EUR", "0.1", 4},        // 3.5 → 4
		{"just under half", 2499, "USD", "EUR", "0.001", 2},    // 2.499 → 2
		{"just over half", 2501, "USD", "EUR", "0.001", 3},     // 2.501 → 3
		{"to JPY (exp 0)", 1999, "USD", "JPY", "151.25", 3023}, // 19.99·151.25 = 3023.4875
		{"to JPY half even", 2, "USD", "JPY", "25", 0},         // 0.02·25 = 0.5 → 0
		{"to JPY half odd", 6, "USD", "JPY", "25", 2},          // 0.06·25 = 1.5 → 2
		{"from JPY", 1000, "JPY", "USD", "0.0066", 660},        // 6.60 USD
		{"from JPY half", 125, "JPY", "USD", "0.01", 125},      // 1.25 USD exactly
		{"JPY half even", 1, "JPY", "USD", "0.005", 0},         // 0.005 USD = 0.5 cent → 0
		{"JPY half odd", 3, "JPY", "USD", "0.005", 2},          // 1.5 cents → 2
		{"to KWD (exp 3)", 100, "USD", "KWD", "0.3075", 308},   // 1.00 USD = 0.3075 KWD = 307.5 fils → 308
		{"zero", 0, "USD", "GBP", "0.79", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rate, err := ParseRate(tt.rate)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ConvertAmount(tt.amount, cur(t, tt.from), cur(t, tt.to), rate)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("ConvertAmount(%d %s→%s @%s) = %d, want %d", tt.amount, tt.from, tt.to, tt.rate, got, tt.want)
			}
			if got < 0 {
				t.Fatal("negative result")
			}
		})
	}
}

func TestConvertRefusesNegativeAndOverflow(t *testing.T) {
	t.Parallel()
	usd, jpy := cur(t, "USD"), cur(t, "JPY")
	if _, err := ConvertAmount(-1, usd, jpy, big.NewRat(150, 1)); !errors.Is(err, ErrNegativeAmount) {
		t.Fatalf("negative: %v", err)
	}
	if _, err := ConvertAmount(math.MaxInt64/2, usd, jpy, big.NewRat(999999999, 1)); !errors.Is(err, ErrAmountOverflow) {
		t.Fatalf("overflow: %v", err)
	}
	if _, err := ConvertAmount(1, usd, jpy, big.NewRat(0, 1)); err == nil {
		t.Fatal("zero rate accepted")
	}
}

func TestPercentOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		amount int64
		bp     int32
		want   int64
	}{
		{10000, 1000, 1000}, // 10 % of 100.00
		{1999, 1000, 200},   // 199.9 → 200
		{25, 5000, 12},      // 12.5 → 12
		{35, 5000, 18},      // 17.5 → 18
		{5, 1000, 0},        // 0.5 → 0
		{15, 1000, 2},       // 1.5 → 2
		{1999, 10000, 1999}, // 100 %
		{1999, 0, 0},
		{1, 1, 0},
	}
	for _, tt := range tests {
		got, err := PercentOf(tt.amount, tt.bp)
		if err != nil || got != tt.want {
			t.Errorf("PercentOf(%d, %d) = %d, %v; want %d", tt.amount, tt.bp, got, err, tt.want)
		}
	}
	if _, err := PercentOf(-1, 10); err == nil {
		t.Error("negative amount accepted")
	}
	if _, err := PercentOf(1, 10001); err == nil {
		t.Error("bp > 10000 accepted")
	}
}

// Property: a percentage never exceeds the amount, is never negative, and is
// within half a minor unit of the exact value.
func TestPercentOfProperty(t *testing.T) {
	t.Parallel()
	f := func(a uint32, b uint16) bool {
		amount, bp := int64(a), int32(b%10001)
		got, err := PercentOf(amount, bp)
		if err != nil || got < 0 || got > amount {
			return false
		}
		exact := new(big.Rat).Mul(new(big.Rat).SetInt64(amount), big.NewRat(int64(bp), 10000))
		diff := new(big.Rat).Sub(new(big.Rat).SetInt64(got), exact)
		return diff.Abs(diff).Cmp(big.NewRat(1, 2)) <= 0
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 5000}); err != nil {
		t.Fatal(err)
	}
}

// Property: one conversion lands within half a minor unit of the exact value,
// and converting back at the inverse rate lands within the bound stated in
// the package doc: |x' − x| ≤ 1/2 + 1/(2·r·s).
func TestConvertRoundTripProperty(t *testing.T) {
	t.Parallel()
	codes := []string{"USD", "EUR", "GBP", "JPY", "KWD", "KRW", "CHF"}
	rng := rand.New(rand.NewPCG(1, 2))
	half := big.NewRat(1, 2)
	for i := range 20000 {
		from, to := cur(t, codes[rng.IntN(len(codes))]), cur(t, codes[rng.IntN(len(codes))])
		// A rate with up to 10 fractional digits, between 0.0001 and ~2000.
		rate := big.NewRat(1+rng.Int64N(20_000_000_000_000), 10_000_000_000)
		if rate.Cmp(big.NewRat(1, 10000)) < 0 {
			rate = big.NewRat(1, 10000)
		}
		x := rng.Int64N(100_000_000)
		y, err := ConvertAmount(x, from, to, rate)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		exact := ExactConversion(x, from, to, rate)
		if d := new(big.Rat).Sub(new(big.Rat).SetInt64(y), exact); d.Abs(d).Cmp(half) > 0 {
			t.Fatalf("case %d: %d %s→%s @%s = %d, exact %s: off by more than 1/2", i, x, from.Code, to.Code, rate.FloatString(10), y, exact.FloatString(4))
		}
		inv := new(big.Rat).Inv(rate)
		back, err := ConvertAmount(y, to, from, inv)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		// r·s = the exact value of one minor unit of from in minor units of to.
		rs := ExactConversion(1, from, to, rate)
		bound := new(big.Rat).Add(half, new(big.Rat).Quo(half, rs))
		if d := new(big.Rat).SetInt64(back - x); d.Abs(d).Cmp(bound) > 0 {
			t.Fatalf("case %d: %d %s → %d %s → %d %s: off by %d, bound %s", i, x, from.Code, y, to.Code, back, from.Code, back-x, bound.FloatString(4))
		}
		if rs.Cmp(big.NewRat(1, 1)) >= 0 && back != x {
			// When a source minor unit is worth at least one target minor
			// unit the bound is below 1: the round trip is lossless.
			t.Fatalf("case %d: %d %s → %d %s → %d: lossy round trip to a finer unit", i, x, from.Code, y, to.Code, back)
		}
	}
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	good := map[string]string{"1": "1", "0.92": "0.92", "151.25": "151.25", "1.0850000000": "1.085", "0.0000000001": "0.0000000001", "999999999.9999999999": "999999999.9999999999"}
	for in, want := range good {
		r, err := ParseRate(in)
		if err != nil {
			t.Errorf("ParseRate(%q): %v", in, err)
			continue
		}
		if got := FormatRate(r); got != want {
			t.Errorf("FormatRate(ParseRate(%q)) = %q, want %q", in, got, want)
		}
	}
	for _, in := range []string{"", "0", "0.0", "-1", "1e3", "1.", ".5", "1.00000000001", "1234567890", "NaN", "1,5"} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted", in)
		}
	}
}

func TestLookupAndFormat(t *testing.T) {
	t.Parallel()
	for code, exp := range map[string]int{"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "KWD": 3} {
		if c, ok := LookupCurrency(code); !ok || c.Exponent != exp {
			t.Errorf("LookupCurrency(%s) = %+v %v", code, c, ok)
		}
	}
	for _, code := range []string{"XXX", "usd", "", "BTC"} {
		if _, ok := LookupCurrency(code); ok {
			t.Errorf("LookupCurrency(%q) accepted", code)
		}
	}
	if got := FormatAmount(1250, cur(t, "USD")); got != "12.50 USD" {
		t.Errorf("FormatAmount = %q", got)
	}
	if got := FormatAmount(1500, cur(t, "JPY")); got != "1500 JPY" {
		t.Errorf("FormatAmount = %q", got)
	}
}

func TestCheckedArithmetic(t *testing.T) {
	t.Parallel()
	if _, err := AddAmounts(math.MaxInt64, 1); !errors.Is(err, ErrAmountOverflow) {
		t.Error("AddAmounts overflow not detected")
	}
	if _, err := MulAmounts(math.MaxInt64/2, 3); !errors.Is(err, ErrAmountOverflow) {
		t.Error("MulAmounts overflow not detected")
	}
	if v, err := MulAmounts(1000, MaxAmount); err != nil || v != 1000*MaxAmount {
		t.Errorf("MulAmounts = %d %v", v, err)
	}
}

// The 128-bit fast path and the big.Rat path agree exactly, including at
// ties and near the int64 limit.
func TestFactorMatchesBigRat(t *testing.T) {
	t.Parallel()
	codes := []string{"USD", "JPY", "KWD", "EUR"}
	rng := rand.New(rand.NewPCG(5, 8))
	for i := range 50000 {
		from, to := cur(t, codes[rng.IntN(4)]), cur(t, codes[rng.IntN(4)])
		var rate *big.Rat
		switch rng.IntN(3) {
		case 0: // a stored decimal rate
			rate = big.NewRat(1+rng.Int64N(math.MaxInt64), 10_000_000_000)
		case 1: // the inverse of one
			rate = big.NewRat(10_000_000_000, 1+rng.Int64N(math.MaxInt64))
		default: // small, tie-prone
			rate = big.NewRat(1+rng.Int64N(20), 1+rng.Int64N(8))
		}
		var amount int64
		switch rng.IntN(3) {
		case 0:
			amount = rng.Int64N(1000)
		case 1:
			amount = rng.Int64N(MaxAmount)
		default:
			amount = rng.Int64N(math.MaxInt64)
		}
		f := NewFactor(from, to, rate)
		got, err := f.Apply(amount)
		want, werr := RoundToMinor(ExactConversion(amount, from, to, rate))
		if (err != nil) != (werr != nil) || got != want {
			t.Fatalf("case %d: %d %s→%s @%s: fast %d (%v), big.Rat %d (%v)", i, amount, from.Code, to.Code, rate.RatString(), got, err, want, werr)
		}
	}
	// A factor too large for 64 bits takes the big.Rat path.
	huge := new(big.Rat).SetFrac(new(big.Int).Lsh(big.NewInt(3), 70), big.NewInt(7))
	f := NewFactor(cur(t, "USD"), cur(t, "USD"), huge)
	if f.rat == nil {
		t.Fatal("huge factor took the 64-bit path")
	}
	if _, err := f.Apply(1); !errors.Is(err, ErrAmountOverflow) {
		t.Fatalf("huge factor: %v", err)
	}
	small := NewFactor(cur(t, "USD"), cur(t, "USD"), new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Lsh(big.NewInt(1), 70)))
	if got, err := small.Apply(math.MaxInt64); err != nil || got != 0 {
		t.Fatalf("tiny factor: %d %v", got, err)
	}
	// MaxInt64/2 = …903.5 rounds half to even, up to …904.
	half := NewFactor(cur(t, "USD"), cur(t, "USD"), big.NewRat(1, 2))
	if got, err := half.Apply(math.MaxInt64); err != nil || got != math.MaxInt64/2+1 {
		t.Fatalf("MaxInt64/2: %d %v", got, err)
	}
}
