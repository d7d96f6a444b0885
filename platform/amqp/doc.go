// Package amqp is printfleet's RabbitMQ layer: one self-healing connection per
// process, the shared event topology, a publisher that returns only once the
// broker has confirmed every message, and a consumer that acks manually,
// retries with backoff and dead-letters what it cannot handle.
//
// Topology, declared again on every reconnect: a durable topic exchange for
// events (routing key = event type, e.g. orders.order_placed.v1), a direct
// dead-letter exchange, and per consumer a durable quorum queue with an
// explicit x-delivery-limit whose dead letters land in its own <queue>.dlq.
//
//	conn, err := amqp.Dial(ctx, cfg.AMQP, log) // fails if the broker is unreachable within ctx
//	pub := amqp.NewPublisher(conn)
//	err = pub.Publish(ctx, amqp.Message{ID: eventID, Type: "orders.order_placed.v1", Body: b})
//
//	err = amqp.Consume(ctx, conn, amqp.ConsumerConfig{
//		Queue:       "orders.payments",
//		RoutingKeys: []string{"catalog.stock_reserved.v1"},
//		Handler:     h, // nil acks; an error retries; amqp.Permanent(err) dead-letters at once
//	})
//
// Delivery is at least once: a message may arrive again after a reconnect or
// a retry, so handlers record processed message ids (an inbox) in the same
// transaction as their side effect.
//
// Traces cross the broker: Publish injects the W3C trace context of its
// producer span into the headers with otel.GetTextMapPropagator (install a
// TraceContext propagator at start), and each handler runs in a consumer span
// that continues that trace. Metrics are registered on the default Prometheus
// registry; NewDepthCollector exports queue depths (e.g. the .dlq) as gauges.
package amqp
