// Package baseline measures what this machine can do without the fleet:
// PostgreSQL running the order-create transaction itself (pgbench), a bare
// net/http handler, a bare handler doing one Redis GET, and libvips' own
// CLI doing the design render. The fleet's numbers are held against these.
package baseline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Server is a bare HTTP server on a loopback port.
type Server struct {
	URL string
	srv *http.Server
	ln  net.Listener
}

func serve(h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{URL: "http://" + ln.Addr().String(), ln: ln, srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Hello serves a fixed 13-byte body: the ceiling of Go's net/http here.
func Hello() (*Server, error) {
	body := []byte("hello, world\n")
	return serve(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	}))
}

// RedisGet serves the value of one key with one GET per request — the
// ceiling of a cached read on this machine. The value is set first.
func RedisGet(ctx context.Context, rdb *goredis.Client, key string, value []byte) (*Server, error) {
	if err := rdb.Set(ctx, key, value, 10*time.Minute).Err(); err != nil {
		return nil, fmt.Errorf("redis set: %w", err)
	}
	return serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := rdb.Get(r.Context(), key).Bytes()
		if err != nil {
			http.Error(w, "redis: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(v)
	}))
}
