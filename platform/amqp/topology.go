package amqp

import (
	"fmt"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// DLQName is the queue that receives the dead letters of queue.
func DLQName(queue string) string { return queue + ".dlq" }

// queueSpec is a consumer queue and the routing keys bound to it.
type queueSpec struct {
	name        string
	routingKeys []string
}

// declareExchanges declares the event exchange and the dead-letter exchange.
// The DLX is direct: each queue dead-letters with its own name as routing key,
// so exactly its own .dlq receives its dead letters.
func declareExchanges(ch *amqp091.Channel, cfg Config) error {
	if err := ch.ExchangeDeclare(cfg.Exchange, amqp091.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", cfg.Exchange, err)
	}
	if err := ch.ExchangeDeclare(cfg.DeadLetterExchange, amqp091.ExchangeDirect, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", cfg.DeadLetterExchange, err)
	}
	return nil
}

// declareQueue declares q as a durable quorum queue with an explicit delivery
// limit, its .dlq, and its bindings. Dead-lettering is at-least-once (which
// RabbitMQ allows only with the reject-publish overflow), so a dead letter is
// not dropped if the .dlq is briefly unavailable.
func declareQueue(ch *amqp091.Channel, cfg Config, q queueSpec) error {
	dlq := DLQName(q.name)
	if _, err := ch.QueueDeclare(dlq, true, false, false, false, amqp091.Table{
		amqp091.QueueTypeArg: amqp091.QueueTypeQuorum,
	}); err != nil {
		return fmt.Errorf("declare queue %s: %w", dlq, err)
	}
	if err := ch.QueueBind(dlq, q.name, cfg.DeadLetterExchange, false, nil); err != nil {
		return fmt.Errorf("bind queue %s to %s: %w", dlq, cfg.DeadLetterExchange, err)
	}
	if _, err := ch.QueueDeclare(q.name, true, false, false, false, amqp091.Table{
		amqp091.QueueTypeArg:        amqp091.QueueTypeQuorum,
		"x-delivery-limit":          cfg.DeliveryLimit,
		"x-dead-letter-exchange":    cfg.DeadLetterExchange,
		"x-dead-letter-routing-key": q.name,
		"x-dead-letter-strategy":    "at-least-once",
		amqp091.QueueOverflowArg:    amqp091.QueueOverflowRejectPublish,
	}); err != nil {
		return fmt.Errorf("declare queue %s: %w", q.name, err)
	}
	for _, key := range q.routingKeys {
		if err := ch.QueueBind(q.name, key, cfg.Exchange, false, nil); err != nil {
			return fmt.Errorf("bind queue %s to %s with %s: %w", q.name, cfg.Exchange, key, err)
		}
	}
	return nil
}
