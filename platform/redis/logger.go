package redis

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

var installLogger sync.Once

// slogLogger routes go-redis's own messages (e.g. "failed to dial" while
// Redis is down) into the process's JSON log at warn level, at most one line
// per interval, instead of plain text on stderr.
type slogLogger struct {
	mu       sync.Mutex
	last     time.Time
	dropped  int
	interval time.Duration
}

func (l *slogLogger) Printf(ctx context.Context, format string, v ...any) {
	l.mu.Lock()
	if time.Since(l.last) < l.interval {
		l.dropped++
		l.mu.Unlock()
		return
	}
	dropped := l.dropped
	l.last, l.dropped = time.Now(), 0
	l.mu.Unlock()
	slog.Default().WarnContext(ctx, "redis client", "msg_detail", fmt.Sprintf(format, v...), "suppressed", dropped)
}

func useSlog() {
	installLogger.Do(func() { goredis.SetLogger(&slogLogger{interval: 10 * time.Second}) })
}
