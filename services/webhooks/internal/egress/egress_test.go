package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// countingListener accepts connections on addr and counts them; the guard is
// right only if the count stays 0.
type countingListener struct {
	net.Listener
	accepts atomic.Int64
}

func listen(t *testing.T, addr string) *countingListener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("listen %s: %v", addr, err)
	}
	cl := &countingListener{Listener: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			cl.accepts.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return cl
}

func (l *countingListener) port() int { return l.Addr().(*net.TCPAddr).Port }

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// allowServer is a test server on loopback whose exact ip:port is allowed.
func allowServer(t *testing.T, h http.Handler) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, strings.TrimPrefix(srv.URL, "http://")
}

func TestPostRefusesBlockedAddressesWithoutConnecting(t *testing.T) {
	t.Parallel()
	lo := listen(t, "127.0.0.1:0")
	p := lo.port()
	// A second loopback address, on the same port when free.
	lo2 := listen(t, fmt.Sprintf("127.1.2.3:%d", p))
	var lo6 *countingListener
	if l, err := net.Listen("tcp", fmt.Sprintf("[::1]:%d", p)); err == nil {
		l.Close()
		lo6 = listen(t, fmt.Sprintf("[::1]:%d", p))
	}
	c := newClient(t, Config{AllowHTTP: true, Timeout: 3 * time.Second})
	targets := []string{
		"127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254",
		"100.64.0.1", "0.0.0.0", "[::1]", "[fc00::1]", "[fd00::1]", "[fe80::1]",
		"[::ffff:127.0.0.1]", "[::ffff:10.0.0.1]", "[64:ff9b::7f00:1]", "[64:ff9b::a9fe:a9fe]",
		"localhost", "224.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1", "[2001:db8::1]", "[ff02::1]", "[::]",
	}
	for _, host := range targets {
		t.Run(host, func(t *testing.T) {
			url := fmt.Sprintf("http://%s:%d/hook", host, p)
			start := time.Now()
			res := c.Post(context.Background(), url, http.Header{"Content-Type": {"application/json"}}, []byte(`{}`))
			if !errors.Is(res.Err, ErrBlocked) {
				t.Fatalf("Post(%s) = %+v, want ErrBlocked", url, res)
			}
			if res.Status != 0 || time.Since(start) > time.Second {
				t.Fatalf("Post(%s): status %d after %s", url, res.Status, time.Since(start))
			}
		})
	}
	if n := lo.accepts.Load() + lo2.accepts.Load(); n != 0 {
		t.Fatalf("loopback listeners accepted %d connections", n)
	}
	if lo6 != nil && lo6.accepts.Load() != 0 {
		t.Fatalf("[::1] accepted %d connections", lo6.accepts.Load())
	}
	for reason, min := range map[string]float64{reasonLoopback: 6, reasonPrivate: 3, reasonLinkLocal: 2, reasonUniqueLocal: 2, reasonCGNAT: 1, reasonUnspecified: 2} {
		if got := testutil.ToFloat64(c.refused.WithLabelValues(reason)); got < min {
			t.Errorf("refused{reason=%q} = %v, want >= %v", reason, got, min)
		}
	}
}

func TestAllowList(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv, hostport := allowServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("User-Agent") != "printfleet-webhooks/1" || r.Header.Get("X-Test") != "yes" {
			t.Errorf("headers: %v", r.Header)
		}
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, "got %s", b)
	}))
	other := listen(t, "127.0.0.1:0")
	h := http.Header{"X-Test": {"yes"}}

	exact := newClient(t, Config{AllowHTTP: true, Allow: []string{hostport}})
	res := exact.Post(context.Background(), srv.URL+"/x", h, []byte("payload"))
	if res.Err != nil || res.Status != http.StatusAccepted || string(res.Body) != "got payload" || res.Latency <= 0 {
		t.Fatalf("allowed ip:port: %+v", res)
	}
	// The exemption is for that port only.
	res = exact.Post(context.Background(), fmt.Sprintf("http://127.0.0.1:%d/", other.port()), h, nil)
	if !errors.Is(res.Err, ErrBlocked) {
		t.Fatalf("other port: %+v", res)
	}
	if other.accepts.Load() != 0 {
		t.Fatal("other port was connected to")
	}
	cidr := newClient(t, Config{AllowHTTP: true, Allow: []string{"127.0.0.0/8"}})
	if res := cidr.Post(context.Background(), srv.URL, h, nil); res.Err != nil || res.Status != http.StatusAccepted {
		t.Fatalf("allowed CIDR: %+v", res)
	}
	if hits.Load() != 2 {
		t.Fatalf("server hit %d times, want 2", hits.Load())
	}
	if _, err := New(Config{Allow: []string{"localhost:80"}}); err == nil {
		t.Fatal("bad allow entry accepted")
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	target := listen(t, "127.0.0.1:0")
	srv, hostport := allowServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, fmt.Sprintf("http://127.0.0.1:%d/steal", target.port()), http.StatusFound)
	}))
	c := newClient(t, Config{AllowHTTP: true, Allow: []string{hostport}})
	res := c.Post(context.Background(), srv.URL, nil, []byte("{}"))
	if res.Status != http.StatusFound || res.Err != nil {
		t.Fatalf("redirect: %+v, want the 302 itself", res)
	}
	if target.accepts.Load() != 0 {
		t.Fatalf("redirect target accepted %d connections", target.accepts.Load())
	}
	// Even to a permitted address, a redirect is an answer, not followed.
	srv2, hostport2 := allowServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, srv.URL, http.StatusTemporaryRedirect)
	}))
	c2 := newClient(t, Config{AllowHTTP: true, Allow: []string{hostport, hostport2}})
	if res := c2.Post(context.Background(), srv2.URL, nil, nil); res.Status != http.StatusTemporaryRedirect {
		t.Fatalf("redirect to allowed: %+v", res)
	}
}

func TestPostRefusesHTTPWhenNotAllowed(t *testing.T) {
	t.Parallel()
	srv, hostport := allowServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("request reached the server")
	}))
	c := newClient(t, Config{Allow: []string{hostport}})
	if res := c.Post(context.Background(), srv.URL, nil, nil); res.Err == nil {
		t.Fatalf("http accepted: %+v", res)
	}
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	hang := func(release chan struct{}) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body) // lets the server notice the client leaving
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
	}
	slowBody := func(release chan struct{}) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			hang(release)(w, r)
		}
	}
	for name, h := range map[string]func(chan struct{}) http.HandlerFunc{"no headers": hang, "body never ends": slowBody} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			srv, hostport := allowServer(t, h(release))
			t.Cleanup(func() { close(release) }) // runs before the server closes
			c := newClient(t, Config{AllowHTTP: true, Allow: []string{hostport}, Timeout: 300 * time.Millisecond})
			start := time.Now()
			res := c.Post(context.Background(), srv.URL, nil, []byte("{}"))
			took := time.Since(start)
			if !errors.Is(res.Err, ErrTimeout) {
				t.Fatalf("Post = %+v, want ErrTimeout", res)
			}
			if took < 300*time.Millisecond || took > 2*time.Second {
				t.Fatalf("cut after %s, want about 300ms", took)
			}
		})
	}
}

func TestLargeAnswerIsCut(t *testing.T) {
	t.Parallel()
	const total = 10 << 20
	writeErr := make(chan error, 1)
	srv, hostport := allowServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(total))
		chunk := []byte(strings.Repeat("x", 64<<10))
		var err error
		for n := 0; n < total && err == nil; n += len(chunk) {
			_, err = w.Write(chunk)
		}
		writeErr <- err
	}))
	c := newClient(t, Config{AllowHTTP: true, Allow: []string{hostport}, MaxResponseBytes: 16 << 10, Timeout: 5 * time.Second})
	start := time.Now()
	res := c.Post(context.Background(), srv.URL, nil, nil)
	if res.Err != nil || res.Status != http.StatusOK || len(res.Body) != KeptBodyBytes {
		t.Fatalf("Post = status %d, %d body bytes, %v", res.Status, len(res.Body), res.Err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("took %s", time.Since(start))
	}
	// The client hung up instead of reading 10 MB: the server's writes fail.
	select {
	case err := <-writeErr:
		if err == nil {
			t.Fatal("the server wrote all 10 MB: the answer was read to the end")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server still writing")
	}
}

func TestReadBodyReadsAtMostMax(t *testing.T) {
	t.Parallel()
	r := &countingReader{left: 10 << 20}
	kept, n, err := readBody(r, 64<<10)
	if err != nil || n != 64<<10 || r.read != 64<<10 || len(kept) != KeptBodyBytes {
		t.Fatalf("kept %d, n %d, read %d, err %v", len(kept), n, r.read, err)
	}
	kept, n, err = readBody(strings.NewReader("short"), 64<<10)
	if err != nil || n != 5 || string(kept) != "short" {
		t.Fatalf("short: %q %d %v", kept, n, err)
	}
}

type countingReader struct{ left, read int64 }

func (r *countingReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.left)
	r.left -= n
	r.read += n
	return int(n), nil
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	strict := newClient(t, Config{})
	dev := newClient(t, Config{AllowHTTP: true, Allow: []string{"127.0.0.1:9303", "10.1.0.0/16"}})
	tests := []struct {
		c       *Client
		url     string
		ok      bool
		blocked bool
		msg     string
	}{
		{strict, "https://93.184.215.14/hook", true, false, ""},
		{strict, "https://[2606:4700::1111]/hook", true, false, ""},
		{strict, "http://93.184.215.14/hook", false, false, "must use https"},
		{strict, "ftp://93.184.215.14/hook", false, false, "must use https"},
		{strict, "https://user:pw@93.184.215.14/hook", false, false, "user name"},
		{strict, "https://user@93.184.215.14/hook", false, false, "user name"},
		{strict, "https:///hook", false, false, "no host"},
		{strict, "https://", false, false, "no host"},
		{strict, "https:93.184.215.14", false, false, ""},
		{strict, "/relative", false, false, "must use https"},
		{strict, "https://93.184.215.14:99999/", false, false, ""},
		{strict, "https://127.0.0.1/", false, true, "loopback"},
		{strict, "https://127.1.2.3/", false, true, "loopback"},
		{strict, "https://10.0.0.1/", false, true, "private"},
		{strict, "https://172.16.0.1/", false, true, "private"},
		{strict, "https://192.168.1.1/", false, true, "private"},
		{strict, "https://169.254.169.254/latest/meta-data", false, true, "link-local"},
		{strict, "https://100.64.0.1/", false, true, "cgnat"},
		{strict, "https://0.0.0.0/", false, true, ""},
		{strict, "https://[::1]/", false, true, "loopback"},
		{strict, "https://[fc00::1]/", false, true, ""},
		{strict, "https://[fd00::1]/", false, true, ""},
		{strict, "https://[fe80::1]/", false, true, ""},
		{strict, "https://[fe80::1%25eth0]/", false, false, "zone"},
		{strict, "https://[::ffff:127.0.0.1]/", false, true, "loopback"},
		{strict, "https://[::ffff:169.254.169.254]/", false, true, ""},
		{strict, "https://[64:ff9b::a9fe:a9fe]/", false, true, ""},
		{strict, "https://[64:ff9b::5db8:d70e]/", true, false, ""},
		{strict, "https://localhost/", false, true, "not allowed"},
		{strict, "https://app.localhost/", false, true, ""},
		{strict, "https://LOCALHOST./", false, true, ""},
		{dev, "http://127.0.0.1:9303/r/abc", true, false, ""},
		{dev, "http://localhost:9303/r/abc", true, false, ""},
		{dev, "http://localhost:9304/r/abc", false, true, ""},
		{dev, "http://127.0.0.1:9304/r/abc", false, true, ""},
		{dev, "http://127.0.0.1/r/abc", false, true, ""},
		{dev, "http://10.1.2.3:8080/", true, false, ""},
		{dev, "http://10.2.0.1:8080/", false, true, ""},
	}
	for _, tc := range tests {
		err := tc.c.CheckURL(context.Background(), tc.url)
		if tc.ok {
			if err != nil {
				t.Errorf("CheckURL(%q) = %v, want ok", tc.url, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("CheckURL(%q) accepted", tc.url)
			continue
		}
		if errors.Is(err, ErrBlocked) != tc.blocked {
			t.Errorf("CheckURL(%q) = %v: blocked %v, want %v", tc.url, err, !tc.blocked, tc.blocked)
		}
		if !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "invalid webhook URL: ") {
			t.Errorf("CheckURL(%q) = %q, want it to say %q", tc.url, err, tc.msg)
		}
	}
}

func TestCheckURLResolvesNames(t *testing.T) {
	t.Parallel()
	c := newClient(t, Config{})
	// Names resolved by a stub, without the network.
	names := map[string][]string{
		"internal.example": {"10.0.0.7", "fd00::7"},
		"mixed.example":    {"10.0.0.7", "93.184.215.14"},
		"public.example":   {"93.184.215.14"},
	}
	c.lookupIP = func(_ context.Context, _, host string) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, a := range names[host] {
			out = append(out, mustAddr(t, a))
		}
		if len(out) == 0 {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return out, nil
	}
	for host, want := range map[string]string{
		"internal.example": "not allowed", "mixed.example": "", "public.example": "", "missing.example": "does not resolve",
	} {
		err := c.CheckURL(context.Background(), "https://"+host+"/hook")
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckURL(%s) = %v, want %q", host, err, want)
		}
	}
}

func TestBlockReason(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"8.8.8.8": "", "93.184.215.14": "", "2606:4700::1111": "", "64:ff9b::808:808": "", "::ffff:8.8.8.8": "",
		"127.0.0.1": reasonLoopback, "::ffff:7f00:1": reasonLoopback, "10.255.255.255": reasonPrivate,
		"172.31.255.255": reasonPrivate, "172.32.0.1": "", "100.127.255.255": reasonCGNAT, "100.128.0.1": "",
		"169.254.169.254": reasonLinkLocal, "fe80::1": reasonLinkLocal, "fd12::1": reasonUniqueLocal,
		"0.1.2.3": reasonUnspecified, "::": reasonUnspecified, "224.0.0.251": reasonMulticast, "ff02::fb": reasonMulticast,
		"255.255.255.255": reasonBroadcast, "240.0.0.1": reasonReserved, "203.0.113.9": reasonDocumentation,
		"198.19.0.1": reasonDocumentation, "2001:db8::1": reasonDocumentation, "2002:7f00:1::1": reasonReserved,
		"::127.0.0.1": reasonReserved, "64:ff9b::a00:1": reasonPrivate, "fec0::1": reasonUniqueLocal,
	} {
		if got := blockReason(mustAddr(t, addr)); got != want {
			t.Errorf("blockReason(%s) = %q, want %q", addr, got, want)
		}
	}
}

func TestCollectors(t *testing.T) {
	t.Parallel()
	c := newClient(t, Config{AllowHTTP: true})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c.Collectors()...)
	c.Post(context.Background(), "http://10.0.0.1:1/", nil, nil)
	c.Post(context.Background(), "http://169.254.169.254:1/", nil, nil)
	want := `
# HELP printfleet_webhooks_egress_refused_total Outbound webhook connections refused by the address guard, by the kind of address.
# TYPE printfleet_webhooks_egress_refused_total counter
printfleet_webhooks_egress_refused_total{reason="link_local"} 1
printfleet_webhooks_egress_refused_total{reason="private"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want+
		`printfleet_webhooks_egress_refused_total{reason="broadcast"} 0
printfleet_webhooks_egress_refused_total{reason="cgnat"} 0
printfleet_webhooks_egress_refused_total{reason="documentation"} 0
printfleet_webhooks_egress_refused_total{reason="loopback"} 0
printfleet_webhooks_egress_refused_total{reason="multicast"} 0
printfleet_webhooks_egress_refused_total{reason="reserved"} 0
printfleet_webhooks_egress_refused_total{reason="unique_local"} 0
printfleet_webhooks_egress_refused_total{reason="unspecified"} 0
`), "printfleet_webhooks_egress_refused_total"); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}
