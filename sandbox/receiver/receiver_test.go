package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func newServer(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	s := New()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func call(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decode: %v", method, url, err)
		}
	}
	return resp.StatusCode
}

type created struct{ ID, URL string }

func create(t *testing.T, srv *httptest.Server, body string) created {
	t.Helper()
	var c created
	if code := call(t, "POST", srv.URL+"/receivers", body, &c); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	if c.URL != srv.URL+"/r/"+c.ID {
		t.Fatalf("url %q for id %q on %s", c.URL, c.ID, srv.URL)
	}
	return c
}

// noRedirect posts without following redirects, as the webhooks client does.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func post(t *testing.T, c *http.Client, url, body string, h map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestRecordsDeliveriesInOrder(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t)
	rc := create(t, srv, "")
	for i := range 3 {
		resp := post(t, noRedirect, rc.URL, fmt.Sprintf(`{"n":%d}`, i), map[string]string{
			"Printfleet-Signature": fmt.Sprintf("t=1,v1=%d", i), "Content-Type": "application/json"})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("delivery %d: %d", i, resp.StatusCode)
		}
	}
	var got struct{ Deliveries []Delivery }
	if code := call(t, "GET", srv.URL+"/receivers/"+rc.ID+"/deliveries", "", &got); code != 200 {
		t.Fatalf("deliveries: %d", code)
	}
	if len(got.Deliveries) != 3 {
		t.Fatalf("%d deliveries", len(got.Deliveries))
	}
	for i, d := range got.Deliveries {
		if d.Body != fmt.Sprintf(`{"n":%d}`, i) || d.Headers["Printfleet-Signature"] != fmt.Sprintf("t=1,v1=%d", i) ||
			d.Answered != 200 || d.Method != "POST" || d.ReceivedAt.IsZero() {
			t.Fatalf("delivery %d: %+v", i, d)
		}
	}
	var st Stats
	call(t, "GET", srv.URL+"/receivers/"+rc.ID+"/stats", "", &st)
	if st != (Stats{Received: 3}) {
		t.Fatalf("stats %+v", st)
	}
}

func TestModes(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t)
	rc := create(t, srv, `{"status":503}`)
	if resp := post(t, noRedirect, rc.URL, "{}", nil); resp.StatusCode != 503 {
		t.Fatalf("status mode: %d", resp.StatusCode)
	}
	if code := call(t, "PUT", srv.URL+"/receivers/"+rc.ID+"/mode", `{"redirect_to":"http://127.0.0.1:1/elsewhere"}`, nil); code != 200 {
		t.Fatalf("put mode: %d", code)
	}
	resp := post(t, noRedirect, rc.URL, "{}", nil)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "http://127.0.0.1:1/elsewhere" {
		t.Fatalf("redirect mode: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	call(t, "PUT", srv.URL+"/receivers/"+rc.ID+"/mode", `{"delay_ms":150,"status":201}`, nil)
	start := time.Now()
	if resp := post(t, noRedirect, rc.URL, "{}", nil); resp.StatusCode != 201 || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("delay mode: %d after %s", resp.StatusCode, time.Since(start))
	}
	var got struct{ Deliveries []Delivery }
	call(t, "GET", srv.URL+"/receivers/"+rc.ID+"/deliveries", "", &got)
	var answered []int
	for _, d := range got.Deliveries {
		answered = append(answered, d.Answered)
	}
	if fmt.Sprint(answered) != "[503 302 201]" {
		t.Fatalf("answered %v", answered)
	}
	for _, bad := range []string{`{"status":99}`, `{"delay_ms":-1}`, `{"nope":`} {
		if code := call(t, "PUT", srv.URL+"/receivers/"+rc.ID+"/mode", bad, nil); code != 400 {
			t.Errorf("mode %s: %d", bad, code)
		}
	}
}

func TestHangEndsWhenTheClientGivesUp(t *testing.T) {
	t.Parallel()
	s, srv := newServer(t)
	rc := create(t, srv, `{"hang":true}`)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", rc.URL, strings.NewReader("{}"))
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, func() bool { st, _ := s.Stats(rc.ID); return st.InFlight == 1 })
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("client: %v", err)
	}
	waitFor(t, func() bool { st, _ := s.Stats(rc.ID); return st.InFlight == 0 && st.Received == 1 })
	ds, _ := s.Deliveries(rc.ID)
	if len(ds) != 1 || ds[0].Answered != 0 {
		t.Fatalf("deliveries %+v", ds)
	}
}

func TestModeChangeReleasesHangingRequests(t *testing.T) {
	t.Parallel()
	s, srv := newServer(t)
	rc := create(t, srv, `{"hang":true}`)
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for range 2 {
		wg.Go(func() {
			resp, err := http.Post(rc.URL, "application/json", strings.NewReader("{}"))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	waitFor(t, func() bool { st, _ := s.Stats(rc.ID); return st.InFlight == 2 })
	if err := s.SetMode(rc.ID, Mode{Status: 202}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 202 {
			t.Fatalf("released with %d", c)
		}
	}
}

func TestUnknownReceiver(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t)
	if resp := post(t, noRedirect, srv.URL+"/r/nope", "{}", nil); resp.StatusCode != 404 {
		t.Fatalf("POST /r/nope: %d", resp.StatusCode)
	}
	for _, p := range []string{"/receivers/nope/deliveries", "/receivers/nope/stats"} {
		if code := call(t, "GET", srv.URL+p, "", nil); code != 404 {
			t.Errorf("GET %s: %d", p, code)
		}
	}
	if code := call(t, "PUT", srv.URL+"/receivers/nope/mode", "{}", nil); code != 404 {
		t.Errorf("PUT mode: %d", code)
	}
}

func TestBoundedMemory(t *testing.T) {
	t.Parallel()
	s, srv := newServer(t)
	rc := create(t, srv, "")
	for i := range MaxDeliveries + 5 {
		post(t, noRedirect, rc.URL, fmt.Sprint(i), nil)
	}
	ds, _ := s.Deliveries(rc.ID)
	if len(ds) != MaxDeliveries || ds[0].Body != "5" || ds[len(ds)-1].Body != fmt.Sprint(MaxDeliveries+4) {
		t.Fatalf("%d kept, first %q", len(ds), ds[0].Body)
	}
	if st, _ := s.Stats(rc.ID); st.Received != MaxDeliveries+5 {
		t.Fatalf("received %d", st.Received)
	}
	big := bytes.Repeat([]byte("x"), MaxBody+10)
	resp, err := http.Post(rc.URL, "application/json", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("large body: %d", resp.StatusCode)
	}
	ds, _ = s.Deliveries(rc.ID)
	if last := ds[len(ds)-1]; len(last.Body) != MaxBody || last.Answered != 413 {
		t.Fatalf("large body kept %d bytes, answered %d", len(last.Body), last.Answered)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHangEndsAfterMaxHang(t *testing.T) {
	t.Parallel()
	s := New()
	s.maxHang = 100 * time.Millisecond
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	rc := create(t, srv, `{"hang":true,"status":504}`)
	start := time.Now()
	if resp := post(t, noRedirect, rc.URL, "{}", nil); resp.StatusCode != 504 || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("after the hang: %d in %s", resp.StatusCode, time.Since(start))
	}
	if ds, _ := s.Deliveries(rc.ID); len(ds) != 1 || ds[0].Answered != 504 {
		t.Fatalf("deliveries %+v", ds)
	}
}
