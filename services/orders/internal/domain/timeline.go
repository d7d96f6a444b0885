package domain

import "time"

// Timeline entry types (machine-readable; clients may switch on them).
const (
	EventPlaced             = "order.placed"
	EventConfirmed          = "stock.reserved"
	EventRejected           = "stock.rejected"
	EventStockReleased      = "stock.release_requested"
	EventPaymentCaptured    = "payment.captured"
	EventPaymentFailed      = "payment.failed"
	EventPaymentLateCapture = "payment.captured_after_cancel"
	EventPaymentRefunded    = "payment.refunded"
	EventCancelled          = "order.cancelled"
	EventInProduction       = "print_files.ready"
	EventShipped            = "order.shipped"
	// EventPartiallyShipped: a package left and other items are still to
	// ship.
	EventPartiallyShipped = "order.partially_shipped"
	// Packages: one handed to a carrier (attributes shipment_id, carrier,
	// tracking_number, items "item_id:quantity,..."), one delivered, and a
	// carrier's status of one (attributes from, to, event_id, occurred_at).
	EventShipmentCreated       = "shipment.created"
	EventShipmentDelivered     = "shipment.delivered"
	EventShipmentStatusChanged = "shipment.status_changed"
	EventDelivered             = "order.delivered"
	EventMarketplaceSucceeded  = "marketplace.push_succeeded"
	EventMarketplaceFailed     = "marketplace.push_failed"
	// EventRedriven: the reconciler found the order stuck and asked again
	// for the step it waits for (attribute "step").
	EventRedriven = "order.redriven"
	// Marketplace import: an imported order held (attribute "reason"), a
	// retry of a held order, an imported order placed, an order cancelled
	// because the marketplace cancelled it, and a marketplace cancellation
	// that came after production began (nothing changes).
	EventHeld                     = "order.held"
	EventImportRetried            = "order.import_retried"
	EventImported                 = "order.imported"
	EventCancelledByMarketplace   = "order.cancelled_by_marketplace"
	EventMarketplaceCancelIgnored = "order.marketplace_cancel_ignored"
	// Drafts: created (confirm: false), edited (attribute "changed": the
	// fields edited, or "price" when a confirm found the price changed) and
	// expired unconfirmed. A confirmed draft's entry is order.placed.
	EventDrafted      = "order.drafted"
	EventDraftUpdated = "order.draft_updated"
	EventDraftExpired = "order.draft_expired"
)

// TimelineEntry is one entry of an order's timeline. From and To are
// StatusUnspecified for entries that are not transitions.
type TimelineEntry struct {
	ID         string
	OrderID    string
	Type       string
	From, To   Status
	Message    string
	Attributes map[string]string
	CreatedAt  time.Time
	// Seq orders the timeline; set by the store.
	Seq int64
}
