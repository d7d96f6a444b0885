// Package platform is printfleet's shared plumbing: process bootstrap,
// configuration, gRPC servers and clients, PostgreSQL, Redis, RabbitMQ, S3,
// telemetry and error kinds. It holds no business logic.
package platform
