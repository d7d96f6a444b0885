package console

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/printfleet/printfleet/platform/errs"
	typesv1 "github.com/printfleet/printfleet/proto/printfleet/types/v1"
	"github.com/printfleet/printfleet/services/gateway/internal/edge"
)

//go:embed ui/templates/*.html ui/static/*
var ui embed.FS

// pages are the parsed templates, one set per page (each with the layout).
type pages struct {
	byName map[string]*template.Template
}

var funcs = template.FuncMap{
	// actionID is a fresh UUID each time a form is rendered: the action's
	// idempotency key at the ops service.
	"actionID": func() string { return uuid.NewString() },
	"ts":       fmtTime,
	"age":      fmtAge,
	"money":    fmtMoney,
	"enum":     enumName,
	"pretty":   prettyJSON,
	"path":     url.PathEscape,
	"pct":      func(f float64) float64 { return f * 100 },
	"query":    url.QueryEscape,
	"since": func(t *timestamppb.Timestamp) string {
		if t == nil {
			return ""
		}
		return fmtAge(t)
	},
}

func parsePages() (*pages, error) {
	names, err := fs.Glob(ui, "ui/templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(ui, "ui/templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", n, err)
		}
		p.byName[base] = t
	}
	return p, nil
}

// view is what every page renders: the operator, the page's data.
type view struct {
	Title   string
	Page    string
	Subject string
	Roles   string
	CSRF    string
	CanAct  bool
	// Signed is false on the pages shown without a session.
	Signed bool
	Flash  string
	Error  string
	// Refresh asks console.js to reload the page every so many seconds.
	Refresh int
	Data    any
}

// render writes page name with data. A *view is completed with the
// session; other data is wrapped.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	v, ok := data.(*view)
	if !ok {
		v = &view{Data: data}
	}
	if v.Page == "" {
		v.Page = name
	}
	if v.Title == "" {
		v.Title = name
	}
	if s := sessionFrom(r.Context()); s != nil {
		v.Signed, v.Subject, v.Roles, v.CSRF, v.CanAct = true, s.p.Subject, strings.Join(s.p.Roles, ", "), s.csrf, s.CanAct()
	}
	t, ok := c.pages.byName[name]
	if !ok {
		c.o.Log.ErrorContext(r.Context(), "console template missing", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		c.o.Log.ErrorContext(r.Context(), "console render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderStatus is a page with a title and a message, nothing else.
func (c *Console) renderStatus(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	c.render(w, r, status, "status", &view{Title: title, Page: "status", Data: map[string]any{"Message": msg, "Status": status}})
}

// fail answers a failed upstream call: the kind decides the status; only
// the messages services write for callers (invalid, precondition) are
// shown, anything else is logged with the request id.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	code, msg := c.explain(r.Context(), what, err)
	c.renderStatus(w, r, code, http.StatusText(code), msg)
}

// explain maps err to a status and a message safe to show.
func (c *Console) explain(ctx context.Context, what string, err error) (int, string) {
	st, _ := status.FromError(err)
	switch errs.KindOf(err) {
	case errs.NotFound:
		return http.StatusNotFound, what + ": not found."
	case errs.Invalid:
		return http.StatusBadRequest, what + ": " + st.Message()
	case errs.FailedPrecondition, errs.Conflict, errs.AlreadyExists:
		return http.StatusConflict, what + ": " + st.Message()
	case errs.PermissionDenied, errs.Unauthenticated:
		return http.StatusForbidden, what + ": the service refused the operator."
	case errs.Unavailable, errs.DeadlineExceeded:
		c.o.Log.WarnContext(ctx, "console upstream unavailable", "what", what, "err", err)
		return http.StatusServiceUnavailable, what + ": unavailable, try again shortly."
	}
	c.o.Log.ErrorContext(ctx, "console upstream failed", "what", what, "err", err)
	return http.StatusInternalServerError, what + ": internal error (request " + edge.InfoFrom(ctx).RequestID + ")."
}

// sectionError is the one-line message a page section shows when its
// upstream call failed (the page renders the rest).
func (c *Console) sectionError(ctx context.Context, what string, err error) string {
	if err == nil {
		return ""
	}
	_, msg := c.explain(ctx, what, err)
	return msg
}

// static serves the embedded CSS and JS.
func (c *Console) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := ui.ReadFile("ui/static/" + name)
	if err != nil || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	switch path.Ext(name) {
	case ".css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case ".js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	case ".svg":
		w.Header().Set("Content-Type", "image/svg+xml")
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "private, max-age=300")
	_, _ = w.Write(b)
}

func fmtTime(t *timestamppb.Timestamp) string {
	if t == nil || !t.IsValid() || t.AsTime().IsZero() {
		return "—"
	}
	return t.AsTime().UTC().Format("2006-01-02 15:04:05Z")
}

func fmtAge(t *timestamppb.Timestamp) string {
	if t == nil || !t.IsValid() {
		return "—"
	}
	d := time.Since(t.AsTime()).Round(time.Second)
	switch {
	case d < 0:
		return "in " + (-d).String()
	case d < time.Minute:
		return d.String()
	case d < time.Hour:
		return d.Round(time.Minute).String()
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func fmtMoney(m *typesv1.Money) string {
	if m == nil {
		return "—"
	}
	a := m.GetAmountMinor()
	sign := ""
	if a < 0 {
		sign, a = "-", -a
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, a/100, a%100, m.GetCurrency())
}

// enumName shortens ORDER_STATUS_IN_PRODUCTION to IN_PRODUCTION.
func enumName(v fmt.Stringer) string {
	s := v.String()
	for _, p := range []string{"ORDER_STATUS_", "SHIPMENT_STATUS_", "DEAD_LETTER_STATE_", "DELIVERY_STATUS_", "MARKETPLACE_", "DESIGN_STATUS_", "PAYMENT_METHOD_"} {
		if strings.HasPrefix(s, p) {
			return strings.TrimPrefix(s, p)
		}
	}
	return s
}

func prettyJSON(s string) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(s), "", "  "); err != nil {
		return s
	}
	return buf.String()
}
