package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDialsOnlyLoopback(t *testing.T) {
	t.Parallel()
	_, err := New(1).Get("http://192.0.2.1:80/")
	if err == nil || !strings.Contains(err.Error(), "refusing to dial") {
		t.Errorf("a non-loopback address was dialled: %v", err)
	}
	if err := Loopback("http://10.0.0.1:80"); err == nil {
		t.Error("Loopback accepted 10.0.0.1")
	}
	if err := Loopback("http://127.0.0.1:8080/x"); err != nil {
		t.Error(err)
	}
}

func TestDo(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Idempotency-Key") == "" {
			http.Error(w, `{"error":{"code":"INVALID_ARGUMENT"}}`, http.StatusBadRequest)
			return
		}
		if r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "content type", http.StatusUnsupportedMediaType)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"1"}`))
	}))
	defer srv.Close()
	c := New(2)
	b, err := Do(context.Background(), c, http.MethodPost, srv.URL, http.Header{"Idempotency-Key": {"k"}}, []byte(`{}`))
	if err != nil || string(b) != `{"id":"1"}` {
		t.Errorf("Do = %q, %v", b, err)
	}
	_, err = Do(context.Background(), c, http.MethodPost, srv.URL, nil, []byte(`{}`))
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 400 || se.Class() != "http 400" || !strings.Contains(se.Body, "INVALID_ARGUMENT") {
		t.Errorf("want a 400 StatusError, got %v", err)
	}
}
