// Package opsv1 is the ops service's contract (ops.proto, generated): the
// DeadLetterService the operator console calls to read, replay and discard
// the fleet's dead letters.
package opsv1
