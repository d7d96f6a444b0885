package amqp

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var depthDesc = prometheus.NewDesc("printfleet_amqp_queue_depth",
	"Messages ready for delivery in the queue, read at scrape time.", []string{"queue"}, nil)

// depthTimeout bounds the passive declares of one scrape.
const depthTimeout = 2 * time.Second

// NewDepthCollector returns a collector that reads the depth of queues on
// every scrape, typically the service's dead-letter queues:
//
//	prometheus.MustRegister(amqp.NewDepthCollector(conn, amqp.DLQName(queue)))
//
// A queue that cannot be read (connection down, queue missing) is left out of
// that scrape.
func NewDepthCollector(conn *Conn, queues ...string) prometheus.Collector {
	return &depthCollector{conn: conn, queues: append([]string(nil), queues...)}
}

type depthCollector struct {
	conn   *Conn
	queues []string
}

func (d *depthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- depthDesc }

func (d *depthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), depthTimeout)
	defer cancel()
	for _, q := range d.queues {
		n, err := d.conn.QueueDepth(ctx, q)
		if err != nil {
			d.conn.log.Debug("amqp queue depth", "queue", q, "err", err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(n), q)
	}
}
