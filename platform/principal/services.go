package principal

// Internal subjects a service checks by name, not only by the service role:
// the catalog hands decrypted store credentials to the marketplace worker
// alone. Each process signs its own calls with its own subject.
const (
	// SubjectMarketplaceWorker is the marketplace worker's subject: store
	// credentials, tokens, import cursors, and orders' ImportOrder.
	SubjectMarketplaceWorker = "service:marketplace-worker"
	// SubjectOrders is the orders service's own subject: it resolves the
	// lines of an imported order held for a retry.
	SubjectOrders = "service:orders"
	// SubjectGateway is the gateway's own subject on routes without a user:
	// the marketplaces' webhooks it hands to the catalog.
	SubjectGateway = "service:gateway"
	// SubjectWebhooks is the outbound webhooks service's subject: it marks
	// the users whose orders orders announces (SetWebhookSubscriber).
	SubjectWebhooks = "service:webhooks"
)
