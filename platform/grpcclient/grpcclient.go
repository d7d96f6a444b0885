// Package grpcclient dials printfleet services: OpenTelemetry stats handler,
// Prometheus client metrics, transparent retries of UNAVAILABLE with retry
// throttling (so retries never exceed ~10% of calls under an outage), client
// keepalive, a default deadline for calls without one, TLS or mTLS when
// configured (grpctls), and the caller's principal forwarded as metadata
// signed for the method called.
package grpcclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/printfleet/printfleet/platform/grpctls"
	"github.com/printfleet/printfleet/platform/log"
	"github.com/printfleet/printfleet/platform/principal"
)

// serviceConfig retries only UNAVAILABLE (the call did not reach a handler or
// the handler declared it safe), and throttles retries per connection.
const serviceConfig = `{
  "loadBalancingConfig": [{"round_robin": {}}],
  "methodConfig": [{
    "name": [{}],
    "retryPolicy": {
      "maxAttempts": 3,
      "initialBackoff": "0.05s",
      "maxBackoff": "0.5s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }],
  "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}
}`

// Options configure a client connection.
type Options struct {
	// Signer signs the forwarded principal.
	Signer *principal.Signer
	// DefaultTimeout applies to calls whose context has no deadline.
	DefaultTimeout time.Duration
	// TLS dials with TLS (mTLS with a certificate) when it names a CA or a
	// certificate; plaintext otherwise.
	TLS grpctls.Config
}

var (
	metricsOnce sync.Once
	metrics     *grpcprom.ClientMetrics
)

func clientMetrics() *grpcprom.ClientMetrics {
	metricsOnce.Do(func() {
		metrics = grpcprom.NewClientMetrics(grpcprom.WithClientHandlingTimeHistogram(
			grpcprom.WithHistogramBuckets([]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}),
		))
		if err := prometheus.DefaultRegisterer.Register(metrics); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				metrics = are.ExistingCollector.(*grpcprom.ClientMetrics)
			}
		}
	})
	return metrics
}

// Dial returns a lazily connecting client for target (host:port, or
// dns:///name:port to balance over every address of a headless Service).
func Dial(target string, o Options, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	if o.Signer == nil {
		return nil, errors.New("grpcclient: a principal signer is required")
	}
	if o.DefaultTimeout == 0 {
		o.DefaultTimeout = 5 * time.Second
	}
	creds, err := o.TLS.Client()
	if err != nil {
		return nil, err
	}
	m := clientMetrics()
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
		grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		grpc.WithChainUnaryInterceptor(
			deadline(o.DefaultTimeout),
			ForwardPrincipal(o.Signer),
			m.UnaryClientInterceptor(),
		),
		grpc.WithChainStreamInterceptor(m.StreamClientInterceptor()),
	}
	cc, err := grpc.NewClient(target, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("grpc client %s: %w", target, err)
	}
	return cc, nil
}

func deadline(d time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// ForwardPrincipal signs the context's principal onto each call, for that
// call's method only, unless the caller (the gateway) already put a signed one
// there. Dial installs it; tests that dial a bare server use it too.
func ForwardPrincipal(s *principal.Signer) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if md, ok := metadata.FromOutgoingContext(ctx); !ok || len(md.Get(principal.MDSig)) == 0 {
			ctx = s.Outgoing(ctx, method, principal.From(ctx), log.RequestID(ctx))
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// Service is the principal a worker or service uses for its own calls.
func Service(name string) principal.Principal {
	return principal.Principal{Subject: "service:" + name, Roles: []string{principal.RoleService}}
}
