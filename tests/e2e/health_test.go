package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestEveryProcessReportsHealthy is what `make run` promises: the gRPC
// services answer SERVING on the standard health service (as a
// grpc_health_probe would ask), and every process's admin /readyz and the
// gateway's /healthz answer 200.
func TestEveryProcessReportsHealthy(t *testing.T) {
	e := need(t)
	for name, addr := range map[string]string{
		"orders": e.layout.OrdersGRPC(), "catalog": e.layout.CatalogGRPC(), "pricing": e.layout.PricingGRPC(),
		"webhooks": e.layout.WebhooksGRPC(), "ops": e.layout.OpsGRPC(),
	} {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		cc.Close()
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s gRPC health at %s: %v %v", name, addr, resp.GetStatus(), err)
		}
	}
	for _, p := range e.layout.Procs() {
		if p.Admin == "" {
			continue
		}
		resp, err := http.Get("http://" + p.Admin + "/readyz")
		if err != nil {
			t.Errorf("%s /readyz: %v", p.Name, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s /readyz: %s", p.Name, resp.Status)
		}
	}
	if r := e.api.do(t, http.MethodGet, "/healthz", "", nil); r.Status != http.StatusOK {
		t.Errorf("gateway /healthz: %d", r.Status)
	}
}
