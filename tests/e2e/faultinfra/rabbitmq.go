package faultinfra

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// rabbitBin is where the Debian package keeps the scripts that run as the
// calling user (the /usr/sbin wrappers switch to the rabbitmq user).
const rabbitBin = "/usr/lib/rabbitmq/bin"

// RabbitMQ is a private single RabbitMQ node with its own name, ports, data
// and Erlang cookie, no plugins, and the default vhost "/" (guest may connect
// from localhost). Its data survives Kill, so a restart recovers the durable
// queues and their messages as a real broker restart does.
type RabbitMQ struct {
	Node     string // e.g. pf-faults-123@localhost
	Port     int    // AMQP
	DistPort int    // Erlang distribution
	Dir      string

	server
}

// StartRabbitMQ starts a private node and stops it when the test ends.
func StartRabbitMQ(ctx context.Context, t testing.TB) (*RabbitMQ, error) {
	t.Helper()
	port, err := FreePort(20000)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pf-faults-rabbitmq-")
	if err != nil {
		return nil, err
	}
	r := &RabbitMQ{Node: fmt.Sprintf("pf-faults-%d@localhost", port), Port: port, DistPort: port + 20000, Dir: dir}
	t.Cleanup(func() {
		r.discard()
		_ = os.RemoveAll(dir)
	})
	conf := fmt.Sprintf("listeners.tcp.default = 127.0.0.1:%d\nloopback_users.guest = true\ndisk_free_limit.absolute = 20MB\n", port)
	files := map[string]string{
		"rabbitmq.conf":   conf,
		"enabled_plugins": "[].\n",
		"env.conf":        "", // instead of the system's rabbitmq-env.conf (node name, ports)
		".erlang.cookie":  fmt.Sprintf("PFFAULTSCOOKIE%d", port),
	}
	for name, body := range files {
		mode := os.FileMode(0o644)
		if name == ".erlang.cookie" {
			mode = 0o400
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), mode); err != nil {
			return nil, err
		}
	}
	for _, sub := range []string{"mnesia", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	return r, r.Start(ctx)
}

func (r *RabbitMQ) env() []string {
	env := os.Environ()
	return append(env,
		"HOME="+r.Dir,
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(r.Dir, "env.conf"),
		"RABBITMQ_NODENAME="+r.Node,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(r.Port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(r.DistPort),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(r.Dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(r.Dir, "log"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(r.Dir, "rabbitmq.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(r.Dir, "enabled_plugins"),
		"RABBITMQ_ENABLED_PLUGINS=",
	)
}

// URL is the AMQP URL of the node's default vhost "/".
func (r *RabbitMQ) URL() string {
	return "amqp://guest:guest@" + net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port)) + "/%2F"
}

// LogPath is the node's console output.
func (r *RabbitMQ) LogPath() string { return filepath.Join(r.Dir, "console.log") }

// Start boots the node (again) on its data and waits until it accepts an AMQP
// connection on the default vhost.
func (r *RabbitMQ) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c.alive() {
		return fmt.Errorf("rabbitmq %s already running", r.Node)
	}
	cmd := exec.Command(filepath.Join(rabbitBin, "rabbitmq-server"))
	cmd.Dir = r.Dir
	cmd.Env = r.env()
	c, err := spawn(cmd, r.LogPath())
	if err != nil {
		return err
	}
	r.c = c
	if err := waitFor(ctx, c, 90*time.Second, "rabbitmq "+r.Node, r.check); err != nil {
		return fmt.Errorf("%w\n%s", err, tail(r.LogPath(), 15))
	}
	return nil
}

func (r *RabbitMQ) check(ctx context.Context) error {
	if err := dialCheck(net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port)))(ctx); err != nil {
		return err
	}
	conn, err := amqp091.DialConfig(r.URL(), amqp091.Config{Dial: amqp091.DefaultDial(2 * time.Second)})
	if err != nil {
		return err
	}
	return conn.Close()
}

// Kill SIGKILLs the node's whole process group (script and Erlang VM) and
// waits until it is gone.
func (r *RabbitMQ) Kill() error { return r.killGroup("rabbitmq " + r.Node) }

// Restart kills the node and boots it again on the same data.
func (r *RabbitMQ) Restart(ctx context.Context) error {
	if err := r.Kill(); err != nil {
		return err
	}
	return r.Start(ctx)
}

// Stop terminates the node (SIGTERM, SIGKILL after 20 s).
func (r *RabbitMQ) Stop() { r.stopGroup(20 * time.Second) }

// Ctl runs rabbitmqctl against the node.
func (r *RabbitMQ) Ctl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(rabbitBin, "rabbitmqctl"), append([]string{"-n", r.Node, "-q"}, args...)...)
	cmd.Dir = r.Dir
	cmd.Env = r.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("rabbitmqctl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
