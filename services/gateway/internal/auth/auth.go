// Package auth verifies the bearer JWTs the gateway accepts and mints the
// development tokens the token command prints.
//
// Development (PRINTFLEET_JWT_SECRET): HS256 only. Production
// (PRINTFLEET_JWKS_URL): RS256/ES256 against a JWK Set that is refreshed
// periodically and on an unknown key id (behind a rate limit); HS256 is
// refused. In both modes iss and aud must match, exp is required and a small
// leeway absorbs clock skew.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/platform/principal"
)

// Config selects the verification mode.
type Config struct {
	// Secret is the HS256 key used in development.
	Secret config.Secret `env:"JWT_SECRET"`
	// JWKSURL switches to production mode (RS256/ES256 against this JWK Set).
	// Required when PRINTFLEET_ENV=production, and https outside development.
	JWKSURL  string        `env:"JWKS_URL"`
	Issuer   string        `env:"JWT_ISSUER, default=printfleet-dev"`
	Audience string        `env:"JWT_AUDIENCE, default=printfleet"`
	Leeway   time.Duration `env:"JWT_LEEWAY, default=30s"`
	// JWKSRefresh is the periodic refresh of the JWK Set.
	JWKSRefresh time.Duration `env:"JWKS_REFRESH, default=1h"`
	// JWKSUnknownKIDEvery bounds refreshes triggered by an unknown key id.
	JWKSUnknownKIDEvery time.Duration `env:"JWKS_UNKNOWN_KID_EVERY, default=1m"`
}

// CheckEnv is the gateway's rule for a deployed environment (PRINTFLEET_ENV,
// run by config.Load): outside development the JWK Set is fetched over
// https, so that nobody on the path can swap the keys tokens are checked
// against, and production verifies against a JWK Set, never the HS256 secret.
func (c Config) CheckEnv(env string) error {
	if !config.Deployed(env) {
		return nil
	}
	if env == config.Production && c.JWKSURL == "" {
		return errors.New("PRINTFLEET_JWKS_URL is required in production (HS256 tokens signed with PRINTFLEET_JWT_SECRET are for development)")
	}
	if c.JWKSURL != "" {
		u, err := url.Parse(c.JWKSURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return errors.New("PRINTFLEET_JWKS_URL must be an https URL outside development")
		}
	}
	return nil
}

// MinSecretLen is the shortest HS256 secret accepted (RFC 7518 §3.2: a key at
// least as long as the hash).
const MinSecretLen = 32

// Claims are the token's claims: the registered ones plus roles.
type Claims struct {
	jwt.RegisteredClaims
	Roles []string `json:"roles,omitempty"`
}

// knownRoles are the roles a token may grant. "service" is for internal
// callers signing with the internal secret and is never taken from a JWT.
var knownRoles = []string{principal.RoleUser, principal.RoleAdmin, principal.RoleFulfillment, principal.RoleSupport}

// Verifier checks tokens.
type Verifier struct {
	parser  *jwt.Parser
	keyfunc func(ctx context.Context) jwt.Keyfunc
	mode    string
	leeway  time.Duration
	seen    verified
}

// verified remembers tokens that verified, so that a client's next requests
// with the same token skip the signature check and claim parsing. An entry
// lasts until the token expires (with the leeway, exactly as the parser
// decides) and at most verifiedFor, so a key withdrawn from the JWK Set stops
// admitting its tokens within that time. Failures are never remembered.
type verified struct {
	mu sync.Mutex
	m  map[string]verifiedToken
}

type verifiedToken struct {
	p     principal.Principal
	until time.Time
}

const (
	verifiedFor     = time.Minute
	verifiedMaxKeys = 10_000
)

func (s *verified) get(raw string, now time.Time) (principal.Principal, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[raw]
	if !ok {
		return principal.Principal{}, false
	}
	if !now.Before(e.until) {
		delete(s.m, raw)
		return principal.Principal{}, false
	}
	return e.p, true
}

func (s *verified) put(raw string, p principal.Principal, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil || len(s.m) >= verifiedMaxKeys {
		s.m = make(map[string]verifiedToken, 256) // a flood of distinct tokens: start over
	}
	s.m[raw] = verifiedToken{p: p, until: until}
}

// Mode is "hs256" (development) or "jwks" (production).
func (v *Verifier) Mode() string { return v.mode }

// NewVerifier builds the verifier for cfg. In JWKS mode client fetches the
// key set (nil: a client with a 5s timeout); ctx ends the refresh goroutine.
func NewVerifier(ctx context.Context, cfg Config, client *http.Client) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("auth: issuer and audience are required")
	}
	opts := []jwt.ParserOption{
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.JWKSURL != "" {
		if client == nil {
			client = &http.Client{Timeout: 5 * time.Second}
		}
		refresh := cfg.JWKSRefresh
		if refresh <= 0 {
			refresh = time.Hour
		}
		every := cfg.JWKSUnknownKIDEvery
		if every <= 0 {
			every = time.Minute
		}
		noErrFirst := true
		kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
			Client:                    client,
			HTTPTimeout:               5 * time.Second,
			NoErrorReturnFirstHTTPReq: &noErrFirst,
			RefreshInterval:           refresh,
			RefreshUnknownKID:         rate.NewLimiter(rate.Every(every), 1),
			// Bounds both the wait for the refresh limiter and the refresh
			// itself. While the limiter is exhausted (its next token more
			// than this away) an unknown key id is refused at once.
			RateLimitWaitMax: 5 * time.Second,
		})
		if err != nil {
			return nil, fmt.Errorf("auth: jwks %s: %w", cfg.JWKSURL, err)
		}
		return &Verifier{
			parser:  jwt.NewParser(append(opts, jwt.WithValidMethods([]string{"RS256", "ES256"}))...),
			keyfunc: kf.KeyfuncCtx,
			mode:    "jwks",
			leeway:  cfg.Leeway,
		}, nil
	}
	secret := []byte(cfg.Secret.Reveal())
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("auth: PRINTFLEET_JWT_SECRET must be at least %d bytes (or set PRINTFLEET_JWKS_URL)", MinSecretLen)
	}
	return &Verifier{
		parser:  jwt.NewParser(append(opts, jwt.WithValidMethods([]string{"HS256"}))...),
		keyfunc: func(context.Context) jwt.Keyfunc { return func(*jwt.Token) (any, error) { return secret, nil } },
		mode:    "hs256",
		leeway:  cfg.Leeway,
	}, nil
}

// Error is a verification failure; Description is safe to show a client.
type Error struct {
	Description string
	Err         error
}

func (e *Error) Error() string { return e.Description + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Verify checks raw and returns the principal it names. Unknown roles are
// dropped.
func (v *Verifier) Verify(ctx context.Context, raw string) (principal.Principal, error) {
	now := time.Now()
	if p, ok := v.seen.get(raw, now); ok {
		return p, nil
	}
	var c Claims
	if _, err := v.parser.ParseWithClaims(raw, &c, v.keyfunc(ctx)); err != nil {
		desc := "token invalid"
		if errors.Is(err, jwt.ErrTokenExpired) {
			desc = "token expired"
		}
		return principal.Anonymous, &Error{Description: desc, Err: err}
	}
	if !validSubject(c.Subject) {
		return principal.Anonymous, &Error{Description: "token invalid", Err: errors.New("subject missing or malformed")}
	}
	p := principal.Principal{Subject: c.Subject}
	for _, r := range c.Roles {
		if slices.Contains(knownRoles, r) && !slices.Contains(p.Roles, r) {
			p.Roles = append(p.Roles, r)
		}
	}
	if c.ExpiresAt != nil {
		p.Roles = slices.Clip(p.Roles) // shared by later hits: appends must copy
		v.seen.put(raw, p, minTime(c.ExpiresAt.Add(v.leeway), now.Add(verifiedFor)))
	}
	return p, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// validSubject: 1..128 printable ASCII characters without space or comma, so
// that it travels as gRPC metadata and in rate-limit keys unchanged.
func validSubject(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == ',' {
			return false
		}
	}
	return true
}

// ErrNoToken is returned by BearerToken when the request carries none.
var ErrNoToken = errors.New("no bearer token")

// BearerToken extracts the token of an "Authorization: Bearer …" header.
func BearerToken(r *http.Request) (string, error) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return "", ErrNoToken
	}
	if len(vals) > 1 {
		return "", &Error{Description: "token invalid", Err: errors.New("more than one Authorization header")}
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", &Error{Description: "token invalid", Err: errors.New("not a bearer token")}
	}
	return strings.TrimSpace(tok), nil
}

// MintOptions describe a development token.
type MintOptions struct {
	Subject  string
	Roles    []string
	TTL      time.Duration
	Issuer   string
	Audience string
	Now      time.Time
}

// Mint signs an HS256 token with secret.
func Mint(secret []byte, o MintOptions) (string, error) {
	if len(secret) < MinSecretLen {
		return "", fmt.Errorf("secret must be at least %d bytes", MinSecretLen)
	}
	if !validSubject(o.Subject) {
		return "", errors.New("subject must be 1..128 printable characters without spaces or commas")
	}
	if o.TTL <= 0 {
		return "", errors.New("ttl must be positive")
	}
	for _, r := range o.Roles {
		if !slices.Contains(knownRoles, r) {
			return "", fmt.Errorf("unknown role %q (want one of %s)", r, strings.Join(knownRoles, ", "))
		}
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    o.Issuer,
			Subject:   o.Subject,
			Audience:  jwt.ClaimStrings{o.Audience},
			IssuedAt:  jwt.NewNumericDate(o.Now),
			NotBefore: jwt.NewNumericDate(o.Now),
			ExpiresAt: jwt.NewNumericDate(o.Now.Add(o.TTL)),
		},
		Roles: o.Roles,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}
