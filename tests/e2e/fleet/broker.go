package fleet

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"sort"
)

// BrokerUser is one process's RabbitMQ user: it publishes only routing keys
// starting with Publishes (none when empty) and declares, binds and consumes
// only queues starting with Queues (none when empty). scripts/infra.sh and
// the chart's rabbitmq definitions grant the same.
type BrokerUser struct {
	Name, Password string
	Publishes      string
	Queues         string
	// DeadLetters is the ops service's user: it declares and consumes
	// every <queue>.dlq, passive-declares the consumer queues (for their
	// depth), and replays through the default exchange only.
	DeadLetters bool
}

// The exchanges every process declares at start (platform/amqp defaults).
const (
	eventsExchange = "printfleet.events"
	deadLetters    = "printfleet.dlx"
)

// brokerUsers are the fleet's processes that use the broker, by process
// name. Seeds use their service's user (catalog-seed-demo: catalog's).
var brokerUsers = map[string]BrokerUser{
	"orders":         {Publishes: "orders."},
	"orders-worker":  {Publishes: "orders.", Queues: "orders."},
	"catalog":        {Publishes: "catalog."},
	"catalog-worker": {Publishes: "catalog.", Queues: "catalog."},
	"pricing-worker": {Queues: "pricing."},
	"images":         {Publishes: "images.", Queues: "images."},
	"marketplace":    {Publishes: "marketplace.", Queues: "marketplace."},
	// webhooks consumes webhooks.notices (and its .dlq); it publishes nothing.
	"webhooks": {Queues: "webhooks."},
	// ops parks every .dlq and replays to the consumer queues.
	"ops": {DeadLetters: true},
}

// BrokerUsers returns the per-process users with their development
// passwords.
func BrokerUsers() map[string]BrokerUser {
	out := make(map[string]BrokerUser, len(brokerUsers))
	for proc, u := range brokerUsers {
		u.Name = "printfleet-" + proc
		u.Password = "dev-amqp-" + proc + "-change-me"
		out[proc] = u
	}
	return out
}

// Permissions are the user's configure, write and read regular expressions
// on the vhost, and the write regular expression of its topic permission on
// the events exchange (routing keys it may publish).
func (u BrokerUser) Permissions() (configure, write, read, topicWrite string) {
	q := "^$"
	if u.Queues != "" {
		q = "^" + regexp.QuoteMeta(u.Queues) + ".*$"
	}
	ex := regexp.QuoteMeta(eventsExchange)
	dlx := regexp.QuoteMeta(deadLetters)
	if u.DeadLetters {
		// The exchanges as every process declares them; the .dlq queues to
		// declare and consume; a passive declare needs no permission; a
		// replay writes to the default exchange (amq.default) alone, never
		// to the events exchange.
		dlqs := `\.dlq$`
		return fmt.Sprintf("^(%s|%s)$|%s", ex, dlx, dlqs), `^amq\.default$`, fmt.Sprintf("^(%s|%s)$|%s", ex, dlx, dlqs), "^$"
	}
	// Declaring the exchanges needs configure on them; declaring a queue
	// with its dead-letter exchange needs write on the DLX; binding needs
	// write on the queue and read on the exchange; publishing needs write
	// on the exchange (the topic permission then narrows the routing keys).
	// A consumer dead-letters a failed message by publishing it, with its
	// error, to the DLX: the write on the DLX covers that too.
	configure = fmt.Sprintf("^(%s|%s)$|%s", ex, dlx, q)
	read = fmt.Sprintf("^(%s|%s)$|%s", ex, dlx, q)
	write = fmt.Sprintf("^%s$|%s", dlx, q)
	topicWrite = "^$"
	if u.Publishes != "" {
		write = fmt.Sprintf("^(%s|%s)$|%s", ex, dlx, q)
		topicWrite = "^" + regexp.QuoteMeta(u.Publishes) + ".*$"
	}
	return configure, write, read, topicWrite
}

// BrokerURL is the AMQP URL of a process: its own user when the layout
// provisions them, the shared development user otherwise.
func (l Layout) BrokerURL(proc string) string {
	u, ok := BrokerUsers()[proc]
	if !l.BrokerUsers || !ok {
		return l.AMQPURL()
	}
	return fmt.Sprintf("amqp://%s@%s:%d/%s", url.UserPassword(u.Name, u.Password).String(), l.AMQPHost, l.AMQPPort, l.Vhost)
}

// EnsureBrokerUsers creates (or updates) every process's user with its
// permissions on the layout's vhost, in one rabbitmqctl import_definitions.
func (l Layout) EnsureBrokerUsers(ctx context.Context) error {
	vhost, err := url.PathUnescape(l.Vhost)
	if err != nil {
		return err
	}
	type user struct {
		Name      string   `json:"name"`
		Hash      string   `json:"password_hash"`
		Algorithm string   `json:"hashing_algorithm"`
		Tags      []string `json:"tags"`
	}
	type perm struct {
		User      string `json:"user"`
		Vhost     string `json:"vhost"`
		Configure string `json:"configure"`
		Write     string `json:"write"`
		Read      string `json:"read"`
	}
	type topicPerm struct {
		User     string `json:"user"`
		Vhost    string `json:"vhost"`
		Exchange string `json:"exchange"`
		Write    string `json:"write"`
		Read     string `json:"read"`
	}
	var defs struct {
		Users  []user      `json:"users"`
		Perms  []perm      `json:"permissions"`
		Topics []topicPerm `json:"topic_permissions"`
	}
	procs := make([]string, 0, len(brokerUsers))
	for p := range brokerUsers {
		procs = append(procs, p)
	}
	sort.Strings(procs)
	all := BrokerUsers()
	for _, p := range procs {
		u := all[p]
		c, w, r, tw := u.Permissions()
		defs.Users = append(defs.Users, user{Name: u.Name, Hash: passwordHash(u.Password), Algorithm: "rabbit_password_hashing_sha256", Tags: []string{}})
		defs.Perms = append(defs.Perms, perm{User: u.Name, Vhost: vhost, Configure: c, Write: w, Read: r})
		defs.Topics = append(defs.Topics, topicPerm{User: u.Name, Vhost: vhost, Exchange: eventsExchange, Write: tw, Read: ".*"})
	}
	b, err := json.Marshal(defs)
	if err != nil {
		return err
	}
	// rabbitmqctl may run as the broker's own user (the packaged wrapper
	// does): the file must be readable by it, in a directory it can enter.
	f, err := os.CreateTemp("", "printfleet-broker-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "rabbitmqctl", "-q", "import_definitions", f.Name()).CombinedOutput(); err != nil {
		return fmt.Errorf("rabbitmqctl import_definitions: %v: %s", err, out)
	}
	return nil
}

// passwordHash is RabbitMQ's rabbit_password_hashing_sha256: base64 of a
// 4-byte salt followed by SHA-256(salt ‖ password).
func passwordHash(password string) string {
	salt := make([]byte, 4)
	_, _ = rand.Read(salt)
	sum := sha256.Sum256(append(append([]byte{}, salt...), password...))
	return base64.StdEncoding.EncodeToString(append(salt, sum[:]...))
}
