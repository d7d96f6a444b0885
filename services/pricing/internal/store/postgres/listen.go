package postgres

import (
	"context"
	"fmt"
	"strconv"
)

// Listen holds a dedicated connection that LISTENs on Channel and calls
// onChange with each announced version until ctx ends or the connection
// fails (the caller reconnects). onListening is called once LISTEN is in
// effect, so the caller can catch up on anything it missed before.
func (s *Store) Listen(ctx context.Context, onListening func(), onChange func(version int64)) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("listen: acquire: %w", err)
	}
	// The connection leaves the pool: a LISTENing session must not serve
	// other queries.
	conn := pc.Hijack()
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck
	if _, err := conn.Exec(ctx, `LISTEN `+Channel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	onListening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("listen: wait: %w", err)
		}
		v, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil {
			continue // not ours; a poll will catch up
		}
		onChange(v)
	}
}
