package k8s

import (
	"slices"
	"testing"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

// notScaledByQueue are consumer queues of components that scale otherwise.
var notScaledByQueue = map[string]string{
	// The webhooks service serves gRPC too and scales on CPU (HPA), like
	// the other gRPC services; a notice is one small fan-out transaction,
	// and the work that can back up (deliveries) is in PostgreSQL, not in
	// the queue, so its depth would be the wrong signal.
	eventsv1.QueueWebhooksNotices: "webhooks",
}

// TestKEDAQueuesAreTheFleets checks the KEDA triggers against the queue names
// defined once in the event contracts (eventsv1.Queues): every queue a
// ScaledObject watches is a consumer queue of the fleet (a misspelled queue
// reads as empty and scales its worker to the minimum for ever), and every
// consumer queue scales some worker. The value sets with KEDA on render
// every worker's ScaledObject.
func TestKEDAQueuesAreTheFleets(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"production", "everything"} {
		r := renderAll(t)[name]
		scaledBy := map[string][]string{} // queue → ScaledObjects
		for _, s := range r.scaled {
			for _, tr := range s.Spec.Triggers {
				q := tr.Metadata["queueName"]
				if !slices.Contains(eventsv1.Queues, q) {
					t.Errorf("%s: ScaledObject %s scales on queue %q, which is not in eventsv1.Queues %v", name, s.Metadata.Name, q, eventsv1.Queues)
				}
				scaledBy[q] = append(scaledBy[q], s.Metadata.Name)
			}
		}
		for _, q := range eventsv1.Queues {
			if comp, ok := notScaledByQueue[q]; ok {
				if len(scaledBy[q]) != 0 {
					t.Errorf("%s: queue %s scales %v, but %s scales on CPU", name, q, scaledBy[q], comp)
				}
				continue
			}
			switch len(scaledBy[q]) {
			case 0:
				t.Errorf("%s: consumer queue %s has no KEDA trigger in any component", name, q)
			case 1:
			default:
				t.Errorf("%s: queue %s scales several components %v: one consumer per queue", name, q, scaledBy[q])
			}
		}
	}
	// The queues are the constants themselves, not look-alikes.
	for q, worker := range map[string]string{
		eventsv1.QueueOrdersWorker:     "printfleet-orders-worker",
		eventsv1.QueueCatalogStock:     "printfleet-catalog-worker",
		eventsv1.QueueCatalogProjector: "printfleet-catalog-worker",
		eventsv1.QueueCatalogDesigns:   "printfleet-catalog-worker",
		eventsv1.QueuePricingCoupons:   "printfleet-pricing-worker",
		eventsv1.QueueImagesDesigns:    "printfleet-images",
		eventsv1.QueueImagesRenders:    "printfleet-images",
		eventsv1.QueueMarketplacePush:  "printfleet-marketplace",
	} {
		var found bool
		for _, s := range renderAll(t)["production"].scaled {
			for _, tr := range s.Spec.Triggers {
				found = found || (s.Metadata.Name == worker && tr.Metadata["queueName"] == q)
			}
		}
		if !found {
			t.Errorf("production: %s does not scale on %s", worker, q)
		}
	}
}
