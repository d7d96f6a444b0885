package amqp

import (
	"context"
	"sort"
	"sync"
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

// consumed tracks, per process, the queues that Consume is reading, so that
// their depth and their dead-letter queue's depth are exported without any
// wiring by the service.
var consumed = struct {
	sync.Mutex
	once   sync.Once
	queues map[string]*Conn
}{queues: map[string]*Conn{}}

// trackDepth exports the depth of queue and DLQName(queue) from now on.
func trackDepth(conn *Conn, queue string) {
	consumed.once.Do(func() {
		_ = prometheus.DefaultRegisterer.Register(consumedCollector{})
	})
	consumed.Lock()
	defer consumed.Unlock()
	consumed.queues[queue] = conn
	consumed.queues[DLQName(queue)] = conn
}

// untrackDepth stops exporting the queues read through conn.
func untrackDepth(conn *Conn) {
	consumed.Lock()
	defer consumed.Unlock()
	for q, c := range consumed.queues {
		if c == conn {
			delete(consumed.queues, q)
		}
	}
}

type consumedCollector struct{}

func (consumedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- depthDesc }

func (consumedCollector) Collect(ch chan<- prometheus.Metric) {
	consumed.Lock()
	byConn := map[*Conn][]string{}
	for q, c := range consumed.queues {
		byConn[c] = append(byConn[c], q)
	}
	consumed.Unlock()
	for c, qs := range byConn {
		sort.Strings(qs)
		(&depthCollector{conn: c, queues: qs}).Collect(ch)
	}
}
