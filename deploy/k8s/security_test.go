package k8s

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/printfleet/printfleet/deploy/internal/render"
)

// internalSecretHolders serve or call gRPC: only they get the internal
// secret. The consuming workers never sign a call; the images worker, which
// decodes untrusted images through cgo, must not hold it.
var internalSecretHolders = []string{"gateway", "orders", "catalog", "pricing", "marketplace", "webhooks", "ops"}

// secretKeys maps each secret environment variable of c to secret/key.
func secretKeys(c corev1.Container) map[string]string {
	out := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			out[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	return out
}

// TestEachProcessGetsOnlyItsSecrets: the internal secret only where gRPC is
// served or called, the marketplace credentials key only in catalog, the
// payment key only in orders-worker, and each broker user's URL only in its
// own process.
func TestEachProcessGetsOnlyItsSecrets(t *testing.T) {
	t.Parallel()
	for name, r := range renderAll(t) {
		for _, d := range r.deployments {
			comp := component(d)
			env := secretKeys(d.Spec.Template.Spec.Containers[0])
			if _, ok := env["PRINTFLEET_INTERNAL_SECRET"]; ok != slices.Contains(internalSecretHolders, comp) {
				t.Errorf("%s: %s holds the internal secret: %v, want %v", name, d.Name, ok, !ok)
			}
			if _, ok := env["PRINTFLEET_CATALOG_CREDENTIALS_KEY"]; ok && comp != "catalog" {
				t.Errorf("%s: %s holds the marketplace credentials key", name, d.Name)
			}
			if _, ok := env["PRINTFLEET_WEBHOOKS_SECRETS_KEY"]; ok != (comp == "webhooks") {
				t.Errorf("%s: %s holds the webhooks secrets key: %v", name, d.Name, ok)
			}
			if _, ok := env["PRINTFLEET_PAYMENT_API_KEY"]; ok && comp != "orders-worker" {
				t.Errorf("%s: %s holds the payment API key", name, d.Name)
			}
			if ref, ok := env["PRINTFLEET_AMQP_URL"]; ok && !strings.HasSuffix(ref, "/"+comp+"-url") {
				t.Errorf("%s: %s reads its broker URL from %s, want its own user's key %s-url", name, d.Name, ref, comp)
			}
			if comp == "images" {
				for v := range env {
					if !strings.HasPrefix(v, "PRINTFLEET_AMQP_") && !strings.HasPrefix(v, "PRINTFLEET_S3_") {
						t.Errorf("%s: images holds %s; it needs only the broker and the object store", name, v)
					}
				}
			}
		}
	}
}

type brokerDefinitions struct {
	Permissions []struct {
		User, Vhost, Configure, Write, Read string
	} `json:"permissions"`
	TopicPermissions []struct {
		User, Vhost, Exchange, Write, Read string
	} `json:"topic_permissions"`
}

// TestBrokerPermissions: every process with a broker URL has a user in the
// rendered definitions whose topic permission admits its own routing keys
// only, and whose queue permissions reach its own queues only.
func TestBrokerPermissions(t *testing.T) {
	t.Parallel()
	r := renderAll(t)["production"]
	var defs brokerDefinitions
	for _, cm := range r.configMaps {
		if strings.HasSuffix(cm.Name, "-rabbitmq-permissions") {
			if err := json.Unmarshal([]byte(cm.Data["definitions.json"]), &defs); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(defs.Permissions) == 0 {
		t.Fatal("no rabbitmq-permissions ConfigMap with definitions.json")
	}
	match := func(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
	users := map[string]bool{}
	for _, p := range defs.Permissions {
		users[p.User] = true
	}
	for _, d := range r.deployments {
		comp := component(d)
		if _, ok := secretKeys(d.Spec.Template.Spec.Containers[0])["PRINTFLEET_AMQP_URL"]; ok && !users["printfleet-"+comp] {
			t.Errorf("%s uses the broker but has no permissions in the definitions", comp)
		}
	}
	publishes := map[string]string{"orders": "orders.", "orders-worker": "orders.", "catalog": "catalog.",
		"catalog-worker": "catalog.", "images": "images.", "marketplace": "marketplace."}
	consumes := map[string]string{"orders-worker": "orders.", "catalog-worker": "catalog.", "pricing-worker": "pricing.",
		"images": "images.", "marketplace": "marketplace."}
	for _, tp := range defs.TopicPermissions {
		comp := strings.TrimPrefix(tp.User, "printfleet-")
		for _, key := range []string{"orders.order_paid.v1", "catalog.stock_reserved.v1", "images.print_files_ready.v1", "marketplace.push_completed.v1", "pricing.x.v1",
			"catalog.marketplace_webhook_received.v1"} {
			want := publishes[comp] != "" && strings.HasPrefix(key, publishes[comp])
			if got := match(tp.Write, key); got != want {
				t.Errorf("%s may publish %s: %v, want %v (topic write %q)", tp.User, key, got, want, tp.Write)
			}
		}
	}
	for _, p := range defs.Permissions {
		comp := strings.TrimPrefix(p.User, "printfleet-")
		for _, q := range []string{"orders.worker", "catalog.stock", "images.renders", "marketplace.push", "pricing.coupons",
			"marketplace.imports", "marketplace.imports.dlq"} {
			want := consumes[comp] != "" && strings.HasPrefix(q, consumes[comp])
			if comp == "ops" { // it parks every .dlq and nothing else
				want = strings.HasSuffix(q, ".dlq")
			}
			if got := match(p.Read, q) && match(p.Configure, q); got != want {
				t.Errorf("%s may declare and consume %s: %v, want %v (read %q)", p.User, q, got, want, p.Read)
			}
		}
		if got := match(p.Write, "printfleet.events"); got != (publishes[comp] != "") {
			t.Errorf("%s may write to the events exchange: %v", p.User, got)
		}
	}
}

// TestGRPCTLS: with grpcTLS on, every gRPC server and every component that
// calls one mounts the certificate Secret and points the TLS variables at
// it; the gRPC services are probed over HTTP on the admin port (a kubelet
// gRPC probe cannot present a client certificate); nothing else mounts it.
func TestGRPCTLS(t *testing.T) {
	t.Parallel()
	docs, err := render.Chart(render.Options{ChartDir: chartDir, ValuesFiles: []string{chartDir + "/values-production.yaml"},
		Values: map[string]any{"grpcTLS": map[string]any{"enabled": true, "secretName": "fleet-mtls",
			"certManager": map[string]any{"issuerRef": map[string]any{"name": "fleet-ca"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := decodeAll(docs)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.certificates) != 1 {
		t.Fatalf("%d cert-manager Certificates, want 1", len(r.certificates))
	}
	cert := r.certificates[0].Spec
	if cert.SecretName != "fleet-mtls" || cert.IssuerRef.Name != "fleet-ca" || !slices.Contains(cert.Usages, "client auth") || !slices.Contains(cert.Usages, "server auth") {
		t.Errorf("Certificate: %+v", cert)
	}
	for _, svc := range grpcServices {
		if !slices.ContainsFunc(cert.DNSNames, func(n string) bool { return strings.Contains(n, "-"+svc+"-headless.") }) {
			t.Errorf("Certificate names no headless Service of %s: %v", svc, cert.DNSNames)
		}
	}
	want := []string{"gateway", "orders", "catalog", "pricing", "marketplace", "webhooks", "ops"}
	for _, d := range r.deployments {
		comp := component(d)
		pod := d.Spec.Template.Spec
		c := pod.Containers[0]
		mounted := slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool {
			return v.Secret != nil && v.Secret.SecretName == "fleet-mtls"
		})
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		if mounted != slices.Contains(want, comp) {
			t.Errorf("%s mounts the gRPC certificate: %v", d.Name, mounted)
		}
		if !mounted {
			continue
		}
		for _, v := range []string{"PRINTFLEET_GRPC_TLS_CERT", "PRINTFLEET_GRPC_TLS_KEY", "PRINTFLEET_GRPC_TLS_CA"} {
			if !strings.HasPrefix(env[v], "/etc/printfleet/grpc-tls/") {
				t.Errorf("%s: %s = %q", d.Name, v, env[v])
			}
		}
		if slices.Contains(grpcServices, comp) {
			for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
				if p == nil || p.GRPC != nil || p.HTTPGet == nil || p.HTTPGet.Port.StrVal != "admin" {
					t.Errorf("%s: with mTLS, probes must be HTTP on the admin port", d.Name)
				}
			}
		}
	}
}
