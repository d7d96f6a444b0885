package scenario

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestTokenHasTheClaimsTheGatewayChecks(t *testing.T) {
	t.Parallel()
	secret := "0123456789abcdef0123456789abcdef"
	tok, err := Token(secret, "bench-user-1", []string{"user"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	_, err = jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer("printfleet-dev"), jwt.WithAudience("printfleet"),
		jwt.WithExpirationRequired()).ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return []byte(secret), nil })
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	if claims["sub"] != "bench-user-1" {
		t.Errorf("sub %v", claims["sub"])
	}
	roles, _ := claims["roles"].([]any)
	if len(roles) != 1 || roles[0] != "user" {
		t.Errorf("roles %v", claims["roles"])
	}
	if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte("another secret of the right length"), nil }); err == nil {
		t.Error("token verified with another secret")
	}
}

func TestOrderBodyShape(t *testing.T) {
	t.Parallel()
	var body map[string]any
	if err := json.Unmarshal(NewOrderBody([]string{"v1", "v2"}), &body); err != nil {
		t.Fatal(err)
	}
	items := body["items"].([]any)
	if len(items) != 2 || items[0].(map[string]any)["variant_id"] != "v1" || items[1].(map[string]any)["quantity"] != float64(1) {
		t.Errorf("items %v", items)
	}
	addr := body["shipping_address"].(map[string]any)
	for _, k := range []string{"name", "line1", "city", "postal_code", "country_code"} {
		if addr[k] == "" || addr[k] == nil {
			t.Errorf("address lacks %s", k)
		}
	}
	if body["currency"] != "USD" || body["payment_method"] != "PAYMENT_METHOD_CARD" {
		t.Errorf("body %v", body)
	}
}

func TestMoneyAcceptsStringAndNumber(t *testing.T) {
	t.Parallel()
	var o struct{ A, B, C Money }
	if err := json.Unmarshal([]byte(`{"A":{"currency":"USD","amount_minor":"2996"},"B":{"currency":"EUR","amount_minor":15},"C":{"currency":"USD"}}`), &o); err != nil {
		t.Fatal(err)
	}
	if o.A.AmountMinor != 2996 || o.B.AmountMinor != 15 || o.B.Currency != "EUR" || o.C.AmountMinor != 0 {
		t.Errorf("%+v", o)
	}
}

func TestIdsAreUnique(t *testing.T) {
	t.Parallel()
	ids := NewIds()
	var seen []string
	for range 100 {
		k := ids.Next()
		if slices.Contains(seen, k) {
			t.Fatalf("repeated key %s", k)
		}
		seen = append(seen, k)
	}
}

func TestNewAPIRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	if _, err := NewAPI("http://example.com:8080", 1); err == nil {
		t.Error("a non-loopback gateway was accepted")
	}
	if _, err := NewAPI("http://127.0.0.1:10080", 1); err != nil {
		t.Error(err)
	}
}
