// Package proto holds printfleet's API contracts (.proto files) and the Go,
// gRPC, grpc-gateway and OpenAPI code generated from them. Regenerate with
// `make generate`; never edit generated files by hand.
package proto
