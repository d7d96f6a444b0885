package amqp

// DeadLetterTo makes c's consumers publish the copies of their dead letters
// to exchange; a test names one that does not exist, so that every such
// publish fails.
func DeadLetterTo(c *Conn, exchange string) {
	c.dlxOnce.Do(func() { c.dlx = NewPublisherTo(c, exchange) })
}
