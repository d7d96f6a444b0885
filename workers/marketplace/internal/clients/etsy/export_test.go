package etsy

import "time"

// Age makes every request the adapter logged against the per-day quota d
// older, as the sandbox's EtsyAge does with its own.
func Age(a *Adapter, d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, l := range a.days {
		l.mu.Lock()
		for i := range l.sent {
			l.sent[i] = l.sent[i].Add(-d)
		}
		if !l.reportedSent.IsZero() {
			l.reportedSent = l.reportedSent.Add(-d)
		}
		l.mu.Unlock()
	}
}
