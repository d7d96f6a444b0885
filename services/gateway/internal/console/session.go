package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/services/gateway/internal/auth"
	"github.com/printfleet/printfleet/services/gateway/internal/edge"
)

// Cookie names. Both live under Path=/console only.
const (
	sessionCookie = "printfleet_console"
	// loginCookie holds a random nonce the login form's CSRF token is bound
	// to (there is no session yet to bind it to).
	loginCookie = "printfleet_console_login"
)

// session is the operator behind a request.
type session struct {
	p principal.Principal
	// token is the bearer token (from the cookie or the Authorization
	// header); the CSRF token is derived from it. Never rendered.
	token string
	csrf  string
}

// CanAct reports whether the operator may run actions (admin only).
func (s *session) CanAct() bool { return s != nil && s.p.IsAdmin() }

type sessionKey struct{}

func sessionFrom(ctx context.Context) *session {
	s, _ := ctx.Value(sessionKey{}).(*session)
	return s
}

// mac is HMAC-SHA256(key, purpose 0 value), base64url.
func (c *Console) mac(purpose, value string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (c *Console) validMAC(purpose, value, got string) bool {
	return got != "" && hmac.Equal([]byte(c.mac(purpose, value)), []byte(got))
}

// errNoSession is a request without any token.
var errNoSession = errors.New("no console session")

// authenticate finds the operator: an Authorization: Bearer header (an auth
// proxy in front) wins over the session cookie.
func (c *Console) authenticate(r *http.Request) (*session, error) {
	tok, err := auth.BearerToken(r)
	if errors.Is(err, auth.ErrNoToken) {
		ck, cerr := r.Cookie(sessionCookie)
		if cerr != nil || ck.Value == "" {
			return nil, errNoSession
		}
		tok, err = ck.Value, nil
	}
	if err != nil {
		return nil, err
	}
	p, err := c.o.Verifier.Verify(r.Context(), tok)
	if err != nil {
		return nil, err
	}
	return &session{p: p, token: tok, csrf: c.mac("csrf", tok)}, nil
}

// operator answers 403 without data to a request that has no operator with
// the admin or support role; otherwise it puts the session and the
// principal (which the upstream calls carry) in the context.
func (c *Console) operator(w http.ResponseWriter, r *http.Request) (*http.Request, *session, bool) {
	s, err := c.authenticate(r)
	switch {
	case errors.Is(err, errNoSession):
		c.renderStatus(w, r, http.StatusForbidden, "Sign in", "The console needs an operator's sign-in.")
		return r, nil, false
	case err != nil:
		if _, cerr := r.Cookie(sessionCookie); cerr == nil {
			c.clearCookie(w, r, sessionCookie)
		}
		c.renderStatus(w, r, http.StatusForbidden, "Sign in", "The session is not valid any more (expired or refused); sign in again.")
		return r, nil, false
	case !s.p.ReadsAll():
		c.renderStatus(w, r, http.StatusForbidden, "Not allowed", "The console is for operators (the admin or support role).")
		return r, nil, false
	}
	edge.InfoFrom(r.Context()).Subject = s.p.Subject
	ctx := context.WithValue(principal.With(r.Context(), s.p), sessionKey{}, s)
	return r.WithContext(ctx), s, true
}

// read wraps a page handler: operators only.
func (c *Console) read(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r, _, ok := c.operator(w, r)
		if !ok {
			return
		}
		h(w, r)
	}
}

// act wraps an action handler: admins only, with a valid CSRF token.
func (c *Console) act(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r, s, ok := c.operator(w, r)
		if !ok {
			return
		}
		if !s.CanAct() {
			c.renderStatus(w, r, http.StatusForbidden, "Not allowed", "Actions need the admin role.")
			return
		}
		if !c.validMAC("csrf", s.token, r.PostFormValue("csrf")) {
			c.renderStatus(w, r, http.StatusForbidden, "Refused", "The form's CSRF token is missing or wrong; reload the page and try again.")
			return
		}
		h(w, r)
	}
}

// loginPage shows the sign-in form; a fresh nonce cookie binds its CSRF
// token.
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.renderLogin(w, r, http.StatusOK, "")
}

func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	nonce := randomToken()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: nonce, Path: Prefix, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: c.secure(r), MaxAge: 3600})
	c.render(w, r, status, "login", &view{Title: "Sign in", Error: msg, Data: map[string]any{"CSRF": c.mac("login", nonce)}})
}

// login checks the pasted token and opens the session.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(loginCookie)
	if err != nil || !c.validMAC("login", ck.Value, r.PostFormValue("csrf")) {
		c.renderStatus(w, r, http.StatusForbidden, "Refused", "The form's CSRF token is missing or wrong; reload the sign-in page and try again.")
		return
	}
	tok := strings.TrimSpace(r.PostFormValue("token"))
	tok = strings.TrimSpace(strings.TrimPrefix(tok, "Bearer "))
	if tok == "" {
		c.renderLogin(w, r, http.StatusBadRequest, "Paste a bearer token.")
		return
	}
	p, err := c.o.Verifier.Verify(r.Context(), tok)
	if err != nil {
		msg := "The token is not valid."
		var ae *auth.Error
		if errors.As(err, &ae) {
			msg = "The token is not valid: " + ae.Description + "."
		}
		c.renderLogin(w, r, http.StatusForbidden, msg)
		return
	}
	if !p.ReadsAll() {
		c.renderLogin(w, r, http.StatusForbidden, "The console is for operators (the admin or support role).")
		return
	}
	exp := expiry(tok)
	if exp.IsZero() {
		exp = c.o.Now().Add(time.Hour)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: tok, Path: Prefix, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: c.secure(r), Expires: exp,
		MaxAge: max(1, int(time.Until(exp).Seconds()))})
	c.clearCookie(w, r, loginCookie)
	edge.InfoFrom(r.Context()).Subject = p.Subject
	c.o.Log.InfoContext(r.Context(), "console sign-in", "subject", p.Subject, "roles", strings.Join(p.Roles, ","))
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
}

// logout clears the session. It needs the session's CSRF token, so a
// third-party page cannot sign an operator out.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	s, err := c.authenticate(r)
	if err == nil && !c.validMAC("csrf", s.token, r.PostFormValue("csrf")) {
		c.renderStatus(w, r, http.StatusForbidden, "Refused", "The form's CSRF token is missing or wrong.")
		return
	}
	c.clearCookie(w, r, sessionCookie)
	http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
}

func (c *Console) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: Prefix, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: c.secure(r), MaxAge: -1})
}

// secure reports whether the request came over TLS, directly or through a
// trusted proxy that says so.
func (c *Console) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	for _, p := range c.o.TrustedProxies {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// expiry is a verified token's exp (zero when it has none).
func expiry(tok string) time.Time {
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &claims); err != nil || claims.ExpiresAt == nil {
		return time.Time{}
	}
	return claims.ExpiresAt.Time
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
