// Package cachefmt is the format of the orders cache in Redis, a contract
// between the orders service, which writes and invalidates entries, and the
// gateway, which serves an owner's cached order without calling orders.
//
// One key per order, Prefix + "order:" + id, holds either
//
//	<version>:o:<order JSON>[\x00<order proto>]  an entry, or
//	<version>:t                                  a tombstone (a miss).
//
// The order JSON is the orders service's own encoding of the aggregate; the
// optional part after a NUL byte (JSON never holds a raw NUL) is the
// printfleet.orders.v1.Order wire encoding that orders' GetOrder would
// answer, with its user_id saying whose order it is. Orders' invalidation and
// refill scripts read only the version and the marker, so an entry served
// from this key is exactly as fresh as one orders serves.
package cachefmt

import (
	"strconv"
	"strings"
)

// DefaultPrefix namespaces the keys in a deployment.
const DefaultPrefix = "printfleet:orders:"

// Key is the Redis key of order id.
func Key(prefix, id string) string { return prefix + "order:" + id }

// Entry is a decoded cache entry.
type Entry struct {
	Version int64
	// JSON is the orders service's encoding of the order.
	JSON string
	// Wire is the ordersv1.Order wire encoding ("" in entries written
	// without it).
	Wire string
}

// Encode writes an entry's value (without the version, which the refill
// script prepends with ":o:" after checking it).
func Encode(json, wire []byte) string {
	if len(wire) == 0 {
		return string(json)
	}
	var b strings.Builder
	b.Grow(len(json) + 1 + len(wire))
	b.Write(json)
	b.WriteByte(0)
	b.Write(wire)
	return b.String()
}

// Decode reads a key's value; a tombstone or anything unreadable is false.
func Decode(raw string) (Entry, bool) {
	v, rest, ok := strings.Cut(raw, ":")
	if !ok || !strings.HasPrefix(rest, "o:") {
		return Entry{}, false
	}
	version, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return Entry{}, false
	}
	json, wire, _ := strings.Cut(rest[2:], "\x00")
	return Entry{Version: version, JSON: json, Wire: wire}, true
}
