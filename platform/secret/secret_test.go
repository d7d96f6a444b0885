package secret

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func newKey(t *testing.T) string {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	box, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	pt := []byte("shpat_topsecret")
	sealed, err := box.Seal(pt, []byte("store-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, pt) {
		t.Fatal("plaintext visible in sealed value")
	}
	got, err := box.Open(sealed, []byte("store-1"))
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("open = %q, %v", got, err)
	}
	again, _ := box.Seal(pt, []byte("store-1"))
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals of one value are identical (nonce reuse)")
	}

	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	other, _ := New(newKey(t))
	for name, f := range map[string]func() ([]byte, error){
		"other ad":  func() ([]byte, error) { return box.Open(sealed, []byte("store-2")) },
		"tampered":  func() ([]byte, error) { return box.Open(tampered, []byte("store-1")) },
		"other key": func() ([]byte, error) { return other.Open(sealed, []byte("store-1")) },
		"short":     func() ([]byte, error) { return box.Open(sealed[:5], []byte("store-1")) },
	} {
		if _, err := f(); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: err = %v, want ErrOpen", name, err)
		}
	}
}

func TestKeyMustBe32BytesAndIsNeverEchoed(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"", "c2hvcnQ=", "not base64 at all!!", base64.StdEncoding.EncodeToString(make([]byte, 31))} {
		_, err := New(k)
		if !errors.Is(err, ErrKey) {
			t.Errorf("New(%q) err = %v, want ErrKey", k, err)
		}
		if k != "" && strings.Contains(err.Error(), k) {
			t.Errorf("error echoes the key: %v", err)
		}
	}
	if _, err := New(base64.RawURLEncoding.EncodeToString(make([]byte, 32))); err != nil {
		t.Fatalf("raw URL base64 refused: %v", err)
	}
}
