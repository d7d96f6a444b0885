package e2e

// JWT negatives.

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// TestJWTNegatives sends every kind of bad credential to every route of the
// REST table: each is 401 with the JSON error body, a request id and a
// Bearer challenge; tokens whose only roles are unknown (including the
// internal "service" role) are 403 and grant nothing.
func TestJWTNegatives(t *testing.T) {
	e := need(t)
	secret := []byte(e.layout.JWTSecret)
	sub := newSubject("jwt")
	all := []string{"user", "admin", "fulfillment"}
	claims := func(mut func(c jwt.MapClaims)) jwt.MapClaims {
		c := devClaims(sub, all...)
		mut(c)
		return c
	}
	hs := func(c jwt.MapClaims) string { return mintJWT(t, jwt.SigningMethodHS256, secret, c) }
	valid := hs(claims(func(jwt.MapClaims) {}))
	now := time.Now()
	b64 := base64.RawURLEncoding.EncodeToString
	parts := strings.Split(valid, ".")

	// A flipped signature byte (not the last character, whose low bits are
	// padding).
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[5] ^= 0x40
	badSig := parts[0] + "." + parts[1] + "." + b64(sig)
	// Payload swapped for another subject, original signature kept.
	tampered := parts[0] + "." + b64([]byte(fmt.Sprintf(`{"iss":"printfleet-dev","aud":"printfleet","sub":"victim","roles":["admin"],"iat":%d,"exp":%d}`,
		now.Unix(), now.Add(time.Hour).Unix()))) + "." + parts[2]
	noneTok, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims(func(jwt.MapClaims) {})).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	rememberSecretAs("bearer token", noneTok)
	noneCaps := b64([]byte(`{"alg":"NONE","typ":"JWT"}`)) + "." + parts[1] + "."
	noneWithSig := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2]

	bad := []struct {
		name   string
		header []string // Authorization values; nil = none
		query  string
	}{
		{"no token", nil, ""},
		{"empty bearer", []string{"Bearer "}, ""},
		{"basic auth", []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(sub+":password"))}, ""},
		{"not a jwt", []string{"Bearer not-a-jwt"}, ""},
		{"token without scheme", []string{valid}, ""},
		{"two Authorization headers", []string{"Bearer " + valid, "Bearer " + valid}, ""},
		{"token in the query string", nil, "access_token=" + valid},
		{"expired", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-10*time.Minute).Unix()
		}))}, ""},
		{"expired beyond the leeway", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-2*time.Minute).Unix()
		}))}, ""},
		{"not yet valid", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(10 * time.Minute).Unix() }))}, ""},
		{"issued in the future", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { c["iat"] = now.Add(10 * time.Minute).Unix() }))}, ""},
		{"no exp", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { delete(c, "exp") }))}, ""},
		{"wrong aud", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { c["aud"] = "someone-else" }))}, ""},
		{"no aud", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { delete(c, "aud") }))}, ""},
		{"wrong iss", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }))}, ""},
		{"no iss", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { delete(c, "iss") }))}, ""},
		{"alg none", []string{"Bearer " + noneTok}, ""},
		{"alg NONE", []string{"Bearer " + noneCaps}, ""},
		{"alg none with the original signature", []string{"Bearer " + noneWithSig}, ""},
		{"bad signature", []string{"Bearer " + badSig}, ""},
		{"tampered payload", []string{"Bearer " + tampered}, ""},
		{"signed with another secret", []string{"Bearer " + mintJWT(t, jwt.SigningMethodHS256,
			[]byte("another-secret-0123456789abcdef-0123456789"), claims(func(jwt.MapClaims) {}))}, ""},
		{"HS512 with the right secret", []string{"Bearer " + mintJWT(t, jwt.SigningMethodHS512, secret, claims(func(jwt.MapClaims) {}))}, ""},
		{"HS384 with the right secret", []string{"Bearer " + mintJWT(t, jwt.SigningMethodHS384, secret, claims(func(jwt.MapClaims) {}))}, ""},
		{"empty subject", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { c["sub"] = "" }))}, ""},
		{"subject with a space", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { c["sub"] = "alice bob" }))}, ""},
		{"roles not a list", []string{"Bearer " + hs(claims(func(c jwt.MapClaims) { c["roles"] = "admin" }))}, ""},
	}
	for _, rt := range restTable {
		if rt.Edge {
			continue
		}
		path := rt.fill(map[string]string{"order_id": ghostID(), "design_id": ghostID(), "product_id": ghostID()})
		for _, c := range bad {
			if rt.Public && (c.header == nil) {
				continue // no token at all is fine on a public route
			}
			t.Run(rt.String()+"/"+c.name, func(t *testing.T) {
				h := http.Header{}
				for _, v := range c.header {
					h.Add("Authorization", v)
				}
				var body io.Reader
				if rt.hasBody() {
					h.Set("Content-Type", "application/json")
					h.Set("Idempotency-Key", uuid.NewString())
					body = strings.NewReader("{}")
				}
				target := e.api.base + path
				if c.query != "" {
					target += "?" + c.query
				}
				got := secRawDo(t, rt.Method, target, h, body)
				if msg := checkErrorBody(got, http.StatusUnauthorized, "UNAUTHENTICATED"); msg != "" {
					t.Errorf("%s: %s", c.name, msg)
				}
				if ch := got.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer") {
					t.Errorf("%s: WWW-Authenticate %q, want a Bearer challenge", c.name, ch)
				}
			})
		}
	}

	// Roles a token cannot grant.
	victim := secToken(t, newSubject("jwt-victim"), "user", time.Hour)
	r := secCreateOrder(t, e, victim, secBlankOrder(mustSticker(t, e), 1))
	if r.Status != http.StatusCreated {
		t.Fatalf("victim's order: %d %s", r.Status, r.Body)
	}
	victimOrder := str(r.JSON(t), "id")
	roleCases := []struct {
		name  string
		roles []string
	}{
		{"service", []string{"service"}},
		{"Admin", []string{"Admin"}},
		{"ADMIN", []string{"ADMIN"}},
		{"admin with a space", []string{"admin "}},
		{"no roles", []string{}},
	}
	for _, rt := range restTable {
		if rt.Public {
			continue
		}
		path := rt.fill(map[string]string{"order_id": victimOrder, "design_id": ghostID(), "product_id": ghostID()})
		for _, c := range roleCases {
			t.Run(rt.String()+"/roles "+c.name, func(t *testing.T) {
				tok := hs(devClaims(newSubject("jwt-role"), c.roles...))
				var body any
				if rt.hasBody() {
					body = "{}"
				}
				got := e.api.do(t, rt.Method, path, tok, body, "Idempotency-Key", uuid.NewString())
				if msg := checkErrorBody(got, http.StatusForbidden, "PERMISSION_DENIED"); msg != "" {
					t.Errorf("roles %q: %s", c.roles, msg)
				}
			})
		}
	}
	// "service" next to a real role adds nothing: no foreign orders, no
	// user_id listing, no shipments.
	svcUser := hs(devClaims(newSubject("jwt-svc"), "user", "service"))
	if msg := checkErrorBody(e.api.do(t, "GET", "/v1/orders/"+victimOrder, svcUser, nil), http.StatusNotFound, "NOT_FOUND"); msg != "" {
		t.Errorf("user+service reading another user's order: %s", msg)
	}
	if msg := checkErrorBody(e.api.do(t, "GET", "/v1/orders?user_id="+url.QueryEscape(str(r.JSON(t), "user_id")), svcUser, nil), http.StatusNotFound, "NOT_FOUND"); msg != "" {
		t.Errorf("user+service listing another user's orders: %s", msg)
	}
	if msg := checkErrorBody(e.api.do(t, "POST", "/v1/orders/"+victimOrder+":cancel", svcUser, map[string]any{}), http.StatusNotFound, "NOT_FOUND"); msg != "" {
		t.Errorf("user+service cancelling another user's order: %s", msg)
	}
	if msg := checkErrorBody(e.api.do(t, "POST", "/v1/orders/"+victimOrder+"/shipments", svcUser,
		map[string]any{"carrier": "UPS", "tracking_number": "1ZSVC0001"}), http.StatusForbidden, "PERMISSION_DENIED"); msg != "" {
		t.Errorf("user+service shipping: %s", msg)
	}
	if s := orderStatus(t, e, victim, victimOrder); s == "ORDER_STATUS_CANCELLED" || s == "ORDER_STATUS_SHIPPED" {
		t.Errorf("victim's order is %s after the role attempts", s)
	}
	// The valid token itself works (the cases above fail for their one defect).
	e.api.must(t, http.StatusOK, "GET", "/v1/orders", valid, nil)
}
