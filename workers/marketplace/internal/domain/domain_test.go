package domain_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/printfleet/printfleet/workers/marketplace/internal/domain"
)

func TestCredentialsNeverPrint(t *testing.T) {
	t.Parallel()
	store := domain.Store{ID: "s", Credentials: domain.Credentials{APIKey: "SECRET-1", AccessToken: "SECRET-2",
		RefreshToken: "SECRET-3", ClientSecret: "SECRET-4"}}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("store", "store", store, "creds", store.Credentials)
	js, _ := json.Marshal(store)
	for _, out := range []string{fmt.Sprintf("%v %+v %#v %s", store, store, store, store.Credentials), buf.String(), string(js)} {
		if bytes.Contains([]byte(out), []byte("SECRET")) {
			t.Fatalf("secret printed: %s", out)
		}
	}
}

func TestShipmentValidate(t *testing.T) {
	t.Parallel()
	err := domain.Shipment{ShipmentID: "s", ExternalOrderID: "1"}.Validate()
	if !domain.IsPermanent(err) || domain.ReasonOf(err) != domain.ReasonInvalid {
		t.Fatalf("err = %v", err)
	}
	if err := (domain.Shipment{ShipmentID: "s", ExternalOrderID: "1", Carrier: "UPS", TrackingNumber: "1Z"}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestRedactor(t *testing.T) {
	t.Parallel()
	r := domain.NewRedactor("keystring1:sharedsecret1", `tok"en|with"quotes`, "", "short")
	in := `a keystring1:sharedsecret1 b sharedsecret1 c keystring1 d {"t":"tok\"en|with\"quotes"} e short`
	got := r.String(in)
	for _, s := range []string{"sharedsecret1", "keystring1", `tok\"en`} {
		if strings.Contains(got, s) {
			t.Errorf("%q left in %q", s, got)
		}
	}
	if !strings.Contains(got, "short") {
		t.Error("values under the minimum length are not treated as secrets")
	}
	if string(r.Bytes([]byte(in))) != got {
		t.Error("Bytes and String disagree")
	}
}
