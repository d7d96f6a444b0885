package principal

// Internal subjects a service checks by name, not only by the service role:
// the catalog hands decrypted store credentials to the marketplace worker
// alone. Each process signs its own calls with its own subject.
const (
	// SubjectMarketplaceWorker is the marketplace worker's subject.
	SubjectMarketplaceWorker = "service:marketplace-worker"
)
