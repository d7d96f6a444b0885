package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// Deadlines sets every request's deadline: the client's Grpc-Timeout or
// X-Request-Timeout when given (capped at max), def otherwise. The header is
// consumed here so that nothing downstream can extend the deadline.
func Deadlines(def, maxTimeout time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			d := def
			if v := r.Header.Get("Grpc-Timeout"); v != "" {
				t, err := parseGRPCTimeout(v)
				if err != nil {
					WriteError(w, r, http.StatusBadRequest, "INVALID_ARGUMENT", "invalid Grpc-Timeout header", nil)
					return
				}
				d = t
			} else if v := r.Header.Get("X-Request-Timeout"); v != "" {
				t, err := parseRequestTimeout(v)
				if err != nil {
					WriteError(w, r, http.StatusBadRequest, "INVALID_ARGUMENT", "invalid X-Request-Timeout header (want e.g. 2s, 1500ms or 2.5)", nil)
					return
				}
				d = t
			}
			r.Header.Del("Grpc-Timeout")
			r.Header.Del("X-Request-Timeout")
			d = min(d, maxTimeout)
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// parseGRPCTimeout reads the gRPC wire format: up to 8 digits and a unit.
func parseGRPCTimeout(s string) (time.Duration, error) {
	if len(s) < 2 || len(s) > 9 {
		return 0, errors.New("bad length")
	}
	n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("bad value")
	}
	units := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second, 'm': time.Millisecond, 'u': time.Microsecond, 'n': time.Nanosecond}
	u, ok := units[s[len(s)-1]]
	if !ok {
		return 0, errors.New("bad unit")
	}
	if n > int64(time.Hour*24/u) {
		return 24 * time.Hour, nil
	}
	return time.Duration(n) * u, nil
}

// parseRequestTimeout reads a Go duration ("2s", "1500ms") or seconds ("2.5").
func parseRequestTimeout(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0 && f <= 86400) { // also refuses NaN
		return 0, errors.New("bad timeout")
	}
	return time.Duration(f * float64(time.Second)), nil
}

// BodyLimit answers 413 for a declared length over limit and caps reads of
// the rest; a read past the limit marks the request so the error handler
// answers 413 too.
func BodyLimit(limit int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info := InfoFrom(r.Context())
			info.MaxBody = limit
			if r.ContentLength > limit {
				WriteError(w, r, http.StatusRequestEntityTooLarge, "INVALID_ARGUMENT", TooLargeMessage(limit), nil)
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit), info: info}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// TooLargeMessage is the message of a 413.
func TooLargeMessage(limit int64) string {
	return fmt.Sprintf("request body larger than %d bytes", limit)
}

type limitedBody struct {
	io.ReadCloser
	info *Info
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		b.info.bodyTooLarge.Store(true)
	}
	return n, err
}

// CSPAPI is the Content-Security-Policy of every response outside /docs;
// SecurityHeaders gets the docs page's own policy as docsCSP.
const CSPAPI = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// SecurityHeaders sets the headers every response carries; docsCSP applies
// to paths under /docs.
func SecurityHeaders(docsCSP string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("Cross-Origin-Resource-Policy", "same-origin")
			if r.URL.Path == "/docs" || strings.HasPrefix(r.URL.Path, "/docs/") {
				h.Set("Content-Security-Policy", docsCSP)
			} else {
				h.Set("Content-Security-Policy", CSPAPI)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Recover turns a panic into a 500 with the JSON error body (when nothing was
// written yet) and logs it with the stack.
func Recover(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := &statusRecorder{ResponseWriter: w}
			defer func() {
				p := recover()
				if p == nil {
					return
				}
				if p == http.ErrAbortHandler {
					panic(p)
				}
				logger.ErrorContext(r.Context(), "panic serving request", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if !rec.wrote {
					WriteError(w, r, http.StatusInternalServerError, "INTERNAL", "internal error", nil)
				}
			}()
			next.ServeHTTP(rec, r)
		})
	}
}

// statusRecorder remembers the status and size of a response.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if !s.wrote {
		s.status, s.wrote = http.StatusOK, true
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) code() int {
	if !s.wrote {
		return http.StatusOK
	}
	return s.status
}
