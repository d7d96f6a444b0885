// Package ops is the dead-letter service: it parks every message the
// fleet's consumers give up on (each <queue>.dlq) in its own database, shows
// them decoded, replays or discards them on an operator's request, and keeps
// the audit log of every such action. See README.md.
package ops
