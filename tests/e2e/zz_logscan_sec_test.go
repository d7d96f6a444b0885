package e2e

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/tests/e2e/fleet"
)

// This file sorts after every other test file of the package, so its test
// runs after theirs (go test runs top-level tests in file-name order, then
// declaration order; only tests that call t.Parallel at top level run later).

// jwtShape matches anything that looks like a signed or unsigned JWT.
var jwtShape = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`)

// jwtIn returns the first JWT-shaped string in line. Every match starts with
// the literal "eyJ": a line without it is passed over without running the
// regexp, which is most of the cost of scanning a run's logs.
func jwtIn(line string) string {
	if !strings.Contains(line, "eyJ") {
		return ""
	}
	return jwtShape.FindString(line)
}

// fleetSecrets are the secrets of the layout itself.
func fleetSecrets(e *environment) []labelledSecret {
	out := []labelledSecret{
		{"JWT secret", e.layout.JWTSecret},
		{"internal secret", e.layout.InternalSecret},
		{"credentials key", e.layout.CredentialsKey},
		{"webhooks secrets key", e.layout.WebhooksSecretsKey},
		{"carrier secret", e.layout.CarrierSecret},
		{"payment API key", e.layout.PaymentAPIKey},
		{"S3 secret key", secEnvOr("PRINTFLEET_S3_SECRET_KEY", "printfleet-dev-secret")},
	}
	if raw, err := base64.StdEncoding.DecodeString(e.layout.CredentialsKey); err == nil {
		out = append(out, labelledSecret{"credentials key (decoded)", string(raw)})
	}
	if raw, err := base64.RawURLEncoding.DecodeString(e.layout.WebhooksSecretsKey); err == nil {
		out = append(out, labelledSecret{"webhooks secrets key (decoded)", string(raw)})
	}
	if e.layout.BrokerUsers {
		for proc, u := range fleet.BrokerUsers() {
			out = append(out, labelledSecret{proc + " broker password", u.Password})
		}
	}
	return out
}

func secEnvOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// scanLogsForSecrets reads every line of every file under e's log
// directory (process logs, and span files when tracing writes them there)
// and fails for each line that carries a fleet secret, a secret some test
// remembered with rememberSecret, or anything shaped like a bearer token. A
// canary request id through e's gateway proves the scan reads the live logs.
func scanLogsForSecrets(t *testing.T, e *environment) {
	t.Helper()
	canary := "sec-canary-" + uuid.NewString()
	e.api.do(t, "GET", "/v1/products?page_size=1", "", nil, "X-Request-Id", canary)

	// The access log line is written once the response is out: wait for it
	// in the gateway's log before scanning everything once.
	canarySeen := false
	start := time.Now()
	for deadline := time.Now().Add(5 * time.Second); !canarySeen && time.Now().Before(deadline); {
		b, _ := os.ReadFile(e.fleet.LogPath("gateway"))
		if canarySeen = strings.Contains(string(b), canary); !canarySeen {
			time.Sleep(100 * time.Millisecond)
		}
	}

	waited := time.Since(start)
	start = time.Now()
	secrets := append(fleetSecrets(e), rememberedSecrets()...)
	match := newSecretMatcher(secrets)
	var files, lines int
	var size int64
	var hits []string
	canaryScanned := false // the scan itself meets the canary: it would meet a secret the same way
	err := filepath.WalkDir(e.logs, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		rd := bufio.NewReaderSize(f, 1<<20)
		for n := 1; ; n++ {
			line, err := rd.ReadString('\n')
			if line != "" {
				lines++
				size += int64(len(line))
				canaryScanned = canaryScanned || strings.Contains(line, canary)
				for _, s := range match.find(line) {
					hits = append(hits, fmt.Sprintf("%s:%d carries the %s (%s): %s", filepath.Base(path), n, s.Label, redact(s.Value),
						secClip([]byte(strings.ReplaceAll(line, s.Value, "«"+s.Label+"»")), 600)))
				}
				if m := jwtIn(line); m != "" {
					hits = append(hits, fmt.Sprintf("%s:%d carries a JWT-shaped string (%s): %s", filepath.Base(path), n, redact(m),
						secClip([]byte(strings.ReplaceAll(line, m, "«jwt»")), 600)))
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", e.logs, err)
	}
	t.Logf("scanned %d lines (%d KiB) in %d files under %s for %d secrets (%d remembered by tests) and JWT shapes in %v (canary after %v)",
		lines, size>>10, files, e.logs, len(secrets), len(rememberedSecrets()), time.Since(start).Round(time.Millisecond), waited.Round(time.Millisecond))
	if files < 8 || lines < 50 {
		t.Errorf("only %d lines in %d files under %s: the scan would prove nothing", lines, files, e.logs)
	}
	if !canarySeen || !canaryScanned {
		t.Errorf("the canary request id %s never reached %s: the scan is not reading the gateway's access log", canary, e.logs)
	}
	for i, h := range hits {
		if i == 40 {
			t.Errorf("… and %d more", len(hits)-40)
			break
		}
		t.Error(h)
	}
}

// secretMatcher finds secrets in a line with one substring search per
// distinct 4-byte prefix instead of one per secret (many secrets share a
// prefix, and the run's logs are tens of megabytes).
type secretMatcher struct {
	prefixes []string
	byPrefix map[string][]labelledSecret
}

func newSecretMatcher(secrets []labelledSecret) *secretMatcher {
	m := &secretMatcher{byPrefix: map[string][]labelledSecret{}}
	for _, s := range secrets {
		if len(s.Value) < 4 {
			continue
		}
		p := s.Value[:4]
		if _, ok := m.byPrefix[p]; !ok {
			m.prefixes = append(m.prefixes, p)
		}
		m.byPrefix[p] = append(m.byPrefix[p], s)
	}
	return m
}

// find returns the secrets line contains, each once.
func (m *secretMatcher) find(line string) []labelledSecret {
	var out []labelledSecret
	seen := map[string]bool{}
	for _, p := range m.prefixes {
		for off := 0; ; {
			i := strings.Index(line[off:], p)
			if i < 0 {
				break
			}
			at := line[off+i:]
			for _, s := range m.byPrefix[p] {
				if !seen[s.Value] && strings.HasPrefix(at, s.Value) {
					seen[s.Value] = true
					out = append(out, s)
				}
			}
			off += i + 1
		}
	}
	return out
}

// TestSecretMatcher checks the matcher the log scan relies on (no fleet
// needed).
func TestSecretMatcher(t *testing.T) {
	m := newSecretMatcher([]labelledSecret{{"a", "sec-apikey-1234"}, {"b", "sec-access-9876"}, {"c", "e2e-jwt-secret-xyz"}, {"d", "Atzr|seller1.r"}})
	for _, c := range []struct {
		line string
		want []string
	}{
		{`{"msg":"ok"}`, nil},
		{`{"k":"sec-apikey-123"}`, nil}, // a prefix of a secret is not the secret
		{`{"k":"sec-apikey-1234"}`, []string{"a"}},
		{`x sec-access-9876 y sec-apikey-12345 z sec-apikey-1234`, []string{"a", "b"}},
		{`e2e-jwt-secret-xyz and Atzr|seller1.r`, []string{"c", "d"}},
		{`sec-sec-apikey-1234`, []string{"a"}},
	} {
		var got []string
		for _, s := range m.find(c.line) {
			got = append(got, s.Label)
		}
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("find(%q) = %v, want %v", c.line, got, c.want)
		}
	}
	if !jwtShape.MatchString("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln") || jwtShape.MatchString("page eyJpZCI6MX0") {
		t.Error("jwtShape does not tell JWTs from base64 JSON")
	}
	if jwtIn("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln") != "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln" || jwtIn("page eyJpZCI6MX0") != "" {
		t.Error("jwtIn does not find what jwtShape matches")
	}
}

// TestZZLogsHoldNoSecrets runs after every other test of the package and
// scans the whole run's logs for secrets.
func TestZZLogsHoldNoSecrets(t *testing.T) {
	scanLogsForSecrets(t, need(t))
}
