// Package eventsv1 holds the fleet's event contracts (events.proto, generated)
// and the routing keys and queue names of the printfleet.events topic
// exchange, defined once here beside them. Every publisher, consumer,
// test and the Helm chart's KEDA triggers use these names; a test keeps them
// in step with the comments in events.proto and with the chart.
//
// A routing key is <producer>.<event>.v<major>; a queue is
// <consuming process>.<purpose>, with one <queue>.dlq dead-letter queue each.
package eventsv1

// Routing keys, one per event message.
const (
	KeyOrderPlaced = "orders.order_placed.v1"
	// KeyOrderPlacedCoupon carries OrderPlaced for an order with a coupon:
	// pricing.coupons binds only this key, catalog.stock both.
	KeyOrderPlacedCoupon  = "orders.order_placed_coupon.v1"
	KeyOrderPaid          = "orders.order_paid.v1"
	KeyPaymentFailed      = "orders.payment_failed.v1"
	KeyOrderCancelled     = "orders.order_cancelled.v1"
	KeyOrderShipped       = "orders.order_shipped.v1"
	KeyOrderStatusChanged = "orders.order_status_changed.v1"

	KeyStockReserved  = "catalog.stock_reserved.v1"
	KeyStockRejected  = "catalog.stock_rejected.v1"
	KeyStockReleased  = "catalog.stock_released.v1"
	KeyDesignUploaded = "catalog.design_uploaded.v1"
	KeyProductChanged = "catalog.product_changed.v1"
	// KeyVariantPricesChanged feeds pricing the catalog prices of variants.
	KeyVariantPricesChanged = "catalog.variant_prices_changed.v1"
	KeyPrintFilesReady      = "images.print_files_ready.v1"

	KeyPrintFilesFailed  = "images.print_files_failed.v1"
	KeyDesignProcessed   = "images.design_processed.v1"
	KeyMarketplacePushed = "marketplace.push_completed.v1"

	KeyMarketplaceWebhookReceived = "catalog.marketplace_webhook_received.v1"

	// KeyOrderNotice and KeyDesignNotice feed sellers' outbound webhooks.
	KeyOrderNotice  = "orders.order_notice.v1"
	KeyDesignNotice = "catalog.design_notice.v1"
)

// Keys maps each event message's name to its routing key.
var Keys = map[string]string{
	"OrderPlaced":        KeyOrderPlaced,
	"OrderPaid":          KeyOrderPaid,
	"PaymentFailed":      KeyPaymentFailed,
	"OrderCancelled":     KeyOrderCancelled,
	"OrderShipped":       KeyOrderShipped,
	"OrderStatusChanged": KeyOrderStatusChanged,
	"StockReserved":      KeyStockReserved,
	"StockRejected":      KeyStockRejected,
	"StockReleased":      KeyStockReleased,
	"DesignUploaded":     KeyDesignUploaded,
	"ProductChanged":     KeyProductChanged,

	"VariantPricesChanged": KeyVariantPricesChanged,
	"PrintFilesReady":      KeyPrintFilesReady,
	"PrintFilesFailed":     KeyPrintFilesFailed,
	"DesignProcessed":      KeyDesignProcessed,
	"MarketplacePushed":    KeyMarketplacePushed,

	"MarketplaceWebhookReceived": KeyMarketplaceWebhookReceived,

	"OrderNotice":  KeyOrderNotice,
	"DesignNotice": KeyDesignNotice,
}

// VariantKeys maps each routing key that carries a message of Keys under a
// narrower key (so that a consumer binds only the orders it needs) to the
// message's name.
var VariantKeys = map[string]string{
	KeyOrderPlacedCoupon: "OrderPlaced",
}

// Queues, one per consumer. Each is also the consumer's inbox name.
const (
	QueueOrdersWorker     = "orders.worker"
	QueueCatalogStock     = "catalog.stock"
	QueueCatalogProjector = "catalog.projector"
	QueueCatalogDesigns   = "catalog.designs"
	QueuePricingCoupons   = "pricing.coupons"
	// QueuePricingCatalog takes the catalog's variant prices, which pricing
	// keeps as default list prices.
	QueuePricingCatalog  = "pricing.catalog"
	QueueImagesDesigns   = "images.designs"
	QueueImagesRenders   = "images.renders"
	QueueMarketplacePush = "marketplace.push"
	// QueueMarketplaceImports takes the verified marketplace webhooks the
	// importer turns into orders.
	QueueMarketplaceImports = "marketplace.imports"
	// QueueWebhooksNotices takes the order and design notices the webhooks
	// service turns into deliveries.
	QueueWebhooksNotices = "webhooks.notices"
)

// Queues lists every consumer queue.
var Queues = []string{
	QueueOrdersWorker, QueueCatalogStock, QueueCatalogProjector, QueueCatalogDesigns,
	QueuePricingCoupons, QueuePricingCatalog, QueueImagesDesigns, QueueImagesRenders, QueueMarketplacePush,
	QueueMarketplaceImports, QueueWebhooksNotices,
}
