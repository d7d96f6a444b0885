// Package typesv1 holds the value types the printfleet APIs and events share
// (Money), generated from money.proto.
package typesv1
