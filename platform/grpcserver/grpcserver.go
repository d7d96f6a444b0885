// Package grpcserver builds the gRPC server every service runs: OpenTelemetry
// stats handler, Prometheus RED metrics, panic recovery, TLS or mTLS when
// configured (grpctls), the signed-principal check (the signature bound to
// the method called), protovalidate request validation, error-kind mapping
// (errs), the standard health service and reflection.
package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"buf.build/go/protovalidate"
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	protovalidatemw "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/protovalidate"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/grpctls"
	"github.com/printfleet/printfleet/platform/log"
	"github.com/printfleet/printfleet/platform/principal"
)

// Options configure a server.
type Options struct {
	Log *slog.Logger
	// Registerer receives the RED metrics (nil: prometheus.DefaultRegisterer).
	Registerer prometheus.Registerer
	// Signer verifies principal metadata from the gateway and internal callers.
	Signer *principal.Signer
	// Grace bounds GracefulStop before in-flight RPCs are cut.
	Grace time.Duration
	// TLS serves TLS (mTLS with a CA) when it names a certificate.
	TLS grpctls.Config
	// Serving, when set, is called once the server listens: the process's
	// run.Process.Serving, which ends its starting state in /readyz.
	Serving func()
}

// Server is a grpc.Server with its health service.
type Server struct {
	*grpc.Server
	Health  *health.Server
	log     *slog.Logger
	grace   time.Duration
	serving func()
}

// New returns a server with printfleet's interceptor chain. Register services
// on it, then call Serve.
func New(o Options, extra ...grpc.ServerOption) (*Server, error) {
	if o.Signer == nil {
		return nil, errors.New("grpcserver: a principal signer is required")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.DefaultRegisterer
	}
	if o.Grace == 0 {
		o.Grace = 15 * time.Second
	}
	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets([]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}),
	))
	if err := o.Registerer.Register(metrics); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, fmt.Errorf("register grpc metrics: %w", err)
		}
		metrics = are.ExistingCollector.(*grpcprom.ServerMetrics)
	}
	creds, err := o.TLS.Server()
	if err != nil {
		return nil, err
	}
	if creds != nil {
		extra = append([]grpc.ServerOption{grpc.Creds(creds)}, extra...)
	}
	validator, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("protovalidate: %w", err)
	}
	recoverer := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		o.Log.ErrorContext(ctx, "panic in handler", "panic", fmt.Sprint(p))
		return status.Error(codes.Internal, "internal error")
	})
	auth := authenticator{signer: o.Signer}
	mapper := errorMapper{log: o.Log}
	opts := []grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler()),
		grpc.ChainUnaryInterceptor(
			metrics.UnaryServerInterceptor(),
			recovery.UnaryServerInterceptor(recoverer),
			auth.unary,
			mapper.unary,
			protovalidatemw.UnaryServerInterceptor(validator),
			rejectNUL,
		),
		grpc.ChainStreamInterceptor(
			metrics.StreamServerInterceptor(),
			recovery.StreamServerInterceptor(recoverer),
			auth.stream,
			protovalidatemw.StreamServerInterceptor(validator),
		),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		// MaxConnectionAge makes clients reconnect now and then, so that they
		// re-resolve a headless Service and spread over pods added by a scale-up.
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     5 * time.Minute,
			MaxConnectionAge:      5 * time.Minute,
			MaxConnectionAgeGrace: 30 * time.Second,
		}),
		grpc.MaxRecvMsgSize(4 << 20),
	}
	s := &Server{
		Server:  grpc.NewServer(append(opts, extra...)...),
		Health:  health.NewServer(),
		log:     o.Log,
		grace:   o.Grace,
		serving: o.Serving,
	}
	healthpb.RegisterHealthServer(s.Server, s.Health)
	reflection.Register(s.Server)
	metrics.InitializeMetrics(s.Server)
	return s, nil
}

// Serve listens on addr and serves until ctx is cancelled; then it reports
// NOT_SERVING, drains in-flight RPCs within the grace period and stops.
func (s *Server) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("grpc listen %s: %w", addr, err)
	}
	return s.ServeOn(ctx, ln)
}

// ServeOn is Serve on an existing listener (tests use 127.0.0.1:0).
func (s *Server) ServeOn(ctx context.Context, ln net.Listener) error {
	for name := range s.Server.GetServiceInfo() {
		s.Health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.log.Info("grpc serving", "addr", ln.Addr().String())
	if s.serving != nil {
		s.serving() // the listener exists: connections wait in its backlog
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Server.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("grpc serve: %w", err)
	case <-ctx.Done():
	}
	s.Health.Shutdown()
	stopped := make(chan struct{})
	go func() { s.Server.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(s.grace):
		s.log.Warn("grpc drain exceeded grace; cutting in-flight RPCs")
		s.Server.Stop()
	}
	return nil
}

// authenticator turns verified principal metadata into the context principal.
type authenticator struct{ signer *principal.Signer }

func (a authenticator) verify(ctx context.Context, method string) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	p, reqID, err := a.signer.FromIncoming(md, method)
	if err != nil {
		return ctx, status.Error(codes.Unauthenticated, "untrusted caller identity")
	}
	ctx = log.WithRequestID(ctx, reqID)
	return principal.With(ctx, p), nil
}

func (a authenticator) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, err := a.verify(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (a authenticator) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, err := a.verify(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return h(srv, &wrappedStream{ServerStream: ss, ctx: ctx})
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }

// errorMapper maps handler errors to gRPC statuses exactly once and logs the
// cause of internal errors (which clients only see as "internal error").
type errorMapper struct{ log *slog.Logger }

func (m errorMapper) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	if err == nil {
		return resp, nil
	}
	st := errs.Status(err)
	if st.Code() == codes.Internal || st.Code() == codes.Unknown {
		m.log.ErrorContext(ctx, "rpc failed", "method", info.FullMethod, "err", err.Error())
	}
	return nil, st.Err()
}
