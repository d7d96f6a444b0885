// Package egress is the webhooks service's only way out to sellers' URLs: an
// HTTP client that refuses, at connect time, every address a seller should
// not be able to make printfleet reach (loopback, private networks, cloud
// metadata, ...), follows no redirects, uses no proxy and bounds the time
// and the bytes of every attempt.
//
// The guard runs in net.Dialer.Control on each IP address the dialer is
// about to connect to, after DNS resolution, so a name that resolves to a
// public address at validation time and to a private one at delivery time
// (DNS rebinding) is still refused, and nothing is ever connected to.
//
// The client counts the connections its guard refused in
// printfleet_webhooks_egress_refused_total{reason} (reason: loopback,
// private, link_local, unique_local, cgnat, unspecified, multicast,
// broadcast, documentation, reserved); CheckURL refusals are answers to a
// seller and are not counted. The server registers the counter:
//
//	reg.MustRegister(client.Collectors()...)
package egress

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrBlocked is the cause of a refused address: test it with errors.Is.
var ErrBlocked = errors.New("egress: destination address not allowed")

// ErrTimeout is the cause of an attempt cut at Config.Timeout.
var ErrTimeout = errors.New("egress: timed out")

// Defaults of Config.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxResponseBytes = 64 << 10
	// KeptBodyBytes is how much of an answer Result.Body keeps.
	KeptBodyBytes = 1 << 10

	maxConnectTimeout = 5 * time.Second
	userAgent         = "printfleet-webhooks/1"
)

// Config sets up a Client.
type Config struct {
	// Timeout bounds a whole attempt: dial, TLS, headers and body read.
	// Default 10s.
	Timeout time.Duration
	// AllowHTTP accepts http:// URLs (development only).
	AllowHTTP bool
	// Allow exempts addresses from the guard (development only, for the
	// sandbox receiver): "ip:port" exempts exactly that address and port,
	// a CIDR ("127.0.0.0/8") that range on any port.
	Allow []string
	// MaxResponseBytes is the most of an answer's body read (default 64 KiB);
	// Result.Body keeps the first 1 KiB.
	MaxResponseBytes int64
}

// Client posts webhook deliveries. It is safe for concurrent use; one Client
// per process shares its idle connections.
type Client struct {
	cfg      Config
	allow    allowList
	http     *http.Client
	lookupIP func(ctx context.Context, network, host string) ([]netip.Addr, error)
	refused  *prometheus.CounterVec
}

// New validates cfg, fills its defaults and builds the client.
func New(cfg Config) (*Client, error) {
	if cfg.Timeout < 0 || cfg.MaxResponseBytes < 0 {
		return nil, errors.New("egress: negative timeout or response size")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	allow, err := parseAllow(cfg.Allow)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:      cfg,
		allow:    allow,
		lookupIP: net.DefaultResolver.LookupNetIP,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "printfleet_webhooks_egress_refused_total",
			Help: "Outbound webhook connections refused by the address guard, by the kind of address.",
		}, []string{"reason"}),
	}
	for _, r := range reasons {
		c.refused.WithLabelValues(r)
	}
	connect := min(cfg.Timeout, maxConnectTimeout)
	dialer := &net.Dialer{
		Timeout:   connect,
		KeepAlive: 30 * time.Second,
		Control:   c.control,
	}
	transport := &http.Transport{
		Proxy:                  nil, // never through a proxy: it would dial for us, unguarded
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    connect,
		ResponseHeaderTimeout:  cfg.Timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        60 * time.Second,
	}
	c.http = &http.Client{
		Transport: transport,
		// A redirect is an answer (a failure for a webhook), never followed:
		// following one would let a seller's server point us anywhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// Collectors returns the client's metrics for the process to register:
// printfleet_webhooks_egress_refused_total{reason}.
func (c *Client) Collectors() []prometheus.Collector {
	return []prometheus.Collector{c.refused}
}

// control runs on every address the dialer is about to connect to, after
// the socket exists and before connect(2): refusing here means no packet
// leaves for that address.
func (c *Client) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		c.refused.WithLabelValues(reasonReserved).Inc()
		return fmt.Errorf("%w: unparsable address %q", ErrBlocked, address)
	}
	if !strings.HasPrefix(network, "tcp") {
		c.refused.WithLabelValues(reasonReserved).Inc()
		return fmt.Errorf("%w: network %s", ErrBlocked, network)
	}
	if c.allow.allows(ap) {
		return nil
	}
	if reason := blockReason(ap.Addr()); reason != "" {
		c.refused.WithLabelValues(reason).Inc()
		return fmt.Errorf("%w: %s is %s", ErrBlocked, ap.Addr().Unmap().WithZone(""), strings.ReplaceAll(reason, "_", "-"))
	}
	return nil
}

// urlError is what CheckURL returns: its message is safe to show a seller.
type urlError struct {
	reason  string
	blocked bool // the address is refused: errors.Is(err, ErrBlocked)
}

func (e *urlError) Error() string { return "invalid webhook URL: " + e.reason }

func (e *urlError) Is(target error) bool { return e.blocked && target == ErrBlocked }

func invalid(reason string) error { return &urlError{reason: reason} }

func blockedURL(format string, args ...any) error {
	return &urlError{reason: fmt.Sprintf(format, args...), blocked: true}
}

// CheckURL validates a subscription URL at creation: scheme https (or http
// when AllowHTTP), no userinfo, a host; an IP literal in a blocked range, or
// a name whose every address is blocked, is refused. The error message is
// safe to show a seller. Passing CheckURL is not the guard: every delivery
// is checked again at connect time.
func (c *Client) CheckURL(ctx context.Context, raw string) error {
	if len(raw) > 2048 {
		return invalid("longer than 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalid("not a URL")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !c.cfg.AllowHTTP {
			return invalid("must use https")
		}
	default:
		return invalid("must use https")
	}
	if u.Opaque != "" {
		return invalid("not an absolute URL")
	}
	if u.User != nil {
		return invalid("must not contain a user name or password")
	}
	host := u.Hostname()
	if host == "" {
		return invalid("has no host")
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	portNum, err := parsePort(port)
	if err != nil {
		return invalid("has an invalid port")
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if addr.Zone() != "" {
			return invalid("must not name an IPv6 zone")
		}
		if c.allow.allows(netip.AddrPortFrom(addr, portNum)) {
			return nil
		}
		if reason := blockReason(addr); reason != "" {
			return blockedURL("address %s is not allowed (%s)", host, strings.ReplaceAll(reason, "_", "-"))
		}
		return nil
	}
	var addrs []netip.Addr
	if name := strings.ToLower(strings.TrimSuffix(host, ".")); name == "localhost" || strings.HasSuffix(name, ".localhost") {
		// RFC 6761: loopback, whatever a resolver says.
		addrs = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
	} else {
		ctx, cancel := context.WithTimeout(ctx, min(c.cfg.Timeout, maxConnectTimeout))
		defer cancel()
		addrs, err = c.lookupIP(ctx, "ip", host)
		if err != nil || len(addrs) == 0 {
			return invalid(fmt.Sprintf("host %s does not resolve", host))
		}
	}
	for _, a := range addrs {
		if c.allow.allows(netip.AddrPortFrom(a, portNum)) || blockReason(a) == "" {
			return nil
		}
	}
	return blockedURL("host %s resolves only to addresses that are not allowed", host)
}

func parsePort(s string) (uint16, error) {
	var n uint64
	if s == "" || len(s) > 5 {
		return 0, errors.New("bad port")
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, errors.New("bad port")
		}
		n = n*10 + uint64(r-'0')
	}
	if n == 0 || n > 65535 {
		return 0, errors.New("bad port")
	}
	return uint16(n), nil
}

// Result is the outcome of one attempt. Success is the caller's call: an
// answer has Err == nil and its Status, whatever it is (a 3xx included, never
// followed); Err != nil means no (complete) answer.
type Result struct {
	Status  int    // 0 when no answer
	Body    []byte // first 1 KiB
	Latency time.Duration
	Err     error // transport error, timeout (ErrTimeout), blocked address (ErrBlocked)
}

// Post sends body to url with the headers h (User-Agent and Content-Type
// default to printfleet-webhooks/1 and application/json) and reads at most MaxResponseBytes of the answer, all within
// Config.Timeout. A 3xx is an answer like any other: never followed.
func (c *Client) Post(ctx context.Context, url string, h http.Header, body []byte) Result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	res := c.post(ctx, url, h, body)
	res.Latency = time.Since(start)
	if res.Err != nil && !errors.Is(res.Err, ErrBlocked) && isTimeout(ctx, res.Err) {
		res.Err = fmt.Errorf("%w (limit %s): %w", ErrTimeout, c.cfg.Timeout, res.Err)
	}
	return res
}

// isTimeout covers the attempt's deadline and the transport's own dial, TLS
// and header timeouts, which may fire first.
func isTimeout(ctx context.Context, err error) bool {
	var ne net.Error
	return errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

func (c *Client) post(ctx context.Context, url string, h http.Header, body []byte) Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Result{Err: fmt.Errorf("egress: build request: %w", err)}
	}
	// The URL passed CheckURL when it was stored, but the rules may have
	// tightened since (AllowHTTP switched off): check what does not need DNS.
	if req.URL.Scheme != "https" && (req.URL.Scheme != "http" || !c.cfg.AllowHTTP) {
		return Result{Err: fmt.Errorf("egress: scheme %q not allowed", req.URL.Scheme)}
	}
	if req.URL.User != nil {
		return Result{Err: errors.New("egress: URL with user information not allowed")}
	}
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	for k, vs := range h {
		req.Header[k] = append([]string(nil), vs...)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Result{Err: err}
	}
	defer resp.Body.Close()
	kept, _, err := readBody(resp.Body, c.cfg.MaxResponseBytes)
	return Result{Status: resp.StatusCode, Body: kept, Err: err}
}

// readBody reads at most max bytes of r, keeping the first KeptBodyBytes.
// An answer longer than max is not an error: the rest is never read and
// the connection is closed rather than drained.
func readBody(r io.Reader, max int64) (kept []byte, n int64, err error) {
	buf := make([]byte, 4096)
	lr := io.LimitReader(r, max)
	for {
		m, rerr := lr.Read(buf)
		if m > 0 {
			if room := KeptBodyBytes - len(kept); room > 0 {
				kept = append(kept, buf[:min(m, room)]...)
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			return kept, n, nil
		}
		if rerr != nil {
			return kept, n, fmt.Errorf("egress: read answer: %w", rerr)
		}
	}
}
