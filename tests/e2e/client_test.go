package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// client speaks REST to the gateway like any other client would.
type client struct {
	base string
	http *http.Client
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not a JSON object (%d): %s", r.Status, r.Body)
	}
	return m
}

func (c *client) do(t testing.TB, method, path, token string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// must asserts the status and returns the decoded body.
func (c *client) must(t testing.TB, want int, method, path, token string, body any, headers ...string) map[string]any {
	t.Helper()
	r := c.do(t, method, path, token, body, headers...)
	if r.Status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	if len(r.Body) == 0 {
		return nil
	}
	return r.JSON(t)
}

// upload sends a file to a presigned POST policy (form fields + file) or a
// presigned PUT.
func upload(t testing.TB, method, url string, fields map[string]any, contentType string, data []byte) int {
	t.Helper()
	var req *http.Request
	var err error
	if strings.EqualFold(method, http.MethodPut) {
		req, err = http.NewRequest(http.MethodPut, url, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range fields {
			req.Header.Set(k, fmt.Sprint(v))
		}
		req.Header.Set("Content-Type", contentType)
	} else {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, v := range fields {
			_ = mw.WriteField(k, fmt.Sprint(v))
		}
		fw, _ := mw.CreateFormFile("file", "design")
		_, _ = fw.Write(data)
		_ = mw.Close()
		req, err = http.NewRequest(http.MethodPost, url, &buf)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Logf("upload answered %d: %s", resp.StatusCode, body)
	}
	return resp.StatusCode
}

// token mints a development JWT with the gateway's token command.
func token(t testing.TB, sub, roles string, ttl time.Duration) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(env.bin, "token"), "-sub", sub, "-roles", roles, "-ttl", ttl.String())
	cmd.Env = append(cmd.Environ(), "PRINTFLEET_JWT_SECRET="+env.layout.JWTSecret)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// eventually polls cond until it is true or the timeout passes. It polls
// often: a wait ends soon after its condition holds, and each poll is one
// cheap request to the suite's own fleet.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (last: %s)", timeout, what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dig walks a decoded JSON value by keys and indexes.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func str(v any, path ...any) string {
	s, _ := dig(v, path...).(string)
	return s
}
