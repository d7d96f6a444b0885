// Package webhooks is the outbound webhooks service: sellers subscribe URLs
// to events of their orders and designs, and every event is delivered to
// them at least once, signed, retried with backoff for about a day, with a
// log of every delivery. See docs/webhooks.md.
package webhooks
