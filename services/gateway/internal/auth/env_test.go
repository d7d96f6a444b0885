package auth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/printfleet/printfleet/platform/config"
	"github.com/printfleet/printfleet/services/gateway/internal/auth"
)

// The verifier's rules per environment, as config.Load applies them: a JWK
// Set over https outside development, and no HS256 in production.
func TestConfigPerEnvironment(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env, jwks, secret string
		refused           string // "" when the configuration loads
	}{
		{env: "", secret: "dev-jwt-secret-0123456789abcdef0123"},
		{env: "development", jwks: "http://127.0.0.1:9999/jwks.json"},
		{env: "production", jwks: "https://auth.example.com/.well-known/jwks.json"},
		{env: "production", jwks: "http://auth.example.com/.well-known/jwks.json", refused: "PRINTFLEET_JWKS_URL must be an https URL"},
		{env: "production", jwks: "HTTPS//auth.example.com/jwks.json", refused: "PRINTFLEET_JWKS_URL must be an https URL"},
		{env: "production", secret: "prod-own-jwt-0123456789abcdef0123456", refused: "PRINTFLEET_JWKS_URL is required in production"},
		{env: "staging", jwks: "http://auth.staging.example.com/jwks.json", refused: "PRINTFLEET_JWKS_URL must be an https URL"},
		{env: "staging", secret: "staging-own-jwt-0123456789abcdef01234"},
	}
	for _, tc := range cases {
		env := map[string]string{"PRINTFLEET_ENV": tc.env, "PRINTFLEET_JWKS_URL": tc.jwks, "PRINTFLEET_JWT_SECRET": tc.secret}
		var c auth.Config
		err := config.LoadFrom(context.Background(), &c, envconfig.MapLookuper(env))
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("env %q jwks %q: %v", tc.env, tc.jwks, err)
		case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
			t.Errorf("env %q jwks %q: err = %v, want %q", tc.env, tc.jwks, err, tc.refused)
		}
	}
}
