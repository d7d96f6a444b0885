// Package client is the benchmark's HTTP side: a keep-alive client sized for
// the load generator, requests that read and close every body, and status
// errors the load generator tallies by code.
package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// New returns a client that keeps up to conns connections per host open.
// Only loopback addresses are dialled: the benchmark never sends traffic
// anywhere else.
func New(conns int) *http.Client {
	d := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("refusing to dial %s: the benchmark only talks to loopback", addr)
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}}
}

// StatusError is a response outside 2xx.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string { return fmt.Sprintf("http %d: %s", e.Code, e.Body) }

// Class groups errors by status code for the tally.
func (e *StatusError) Class() string { return fmt.Sprintf("http %d", e.Code) }

// Loopback checks that rawURL names a loopback host.
func Loopback(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address", rawURL)
	}
	return nil
}

// Do sends one request and returns the body of a 2xx answer (read fully,
// so the connection is reused) or a *StatusError.
func Do(ctx context.Context, c *http.Client, method, url string, header http.Header, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		if len(b) > 200 {
			b = b[:200]
		}
		return nil, &StatusError{Code: resp.StatusCode, Body: string(b)}
	}
	return b, nil
}
