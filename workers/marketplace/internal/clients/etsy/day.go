package etsy

import (
	"sync"
	"time"
)

// window is the length of Etsy's per-day quota: a rolling 24 hours.
const window = 24 * time.Hour

// maxLogged caps the requests a dayLog remembers; Etsy's per-day allowances
// are 10,000 to 100,000 requests.
const maxLogged = 200_000

// unknownFree is how long a key whose day is spent pauses when this process
// made none of the requests in the window (another replica or client did):
// the next answer, a 429 with retry-after if the window is still full, says
// more.
const unknownFree = 15 * time.Minute

// arrival is how much later than our send Etsy may have counted a request.
const arrival = time.Second

// dayLog remembers when this process sent each request of one API key in the
// last 24 hours, oldest first.
type dayLog struct {
	mu   sync.Mutex
	sent []time.Time
}

func (a *Adapter) dayLog(keystring string) *dayLog {
	a.mu.Lock()
	defer a.mu.Unlock()
	d, ok := a.days[keystring]
	if !ok {
		d = &dayLog{}
		a.days[keystring] = d
	}
	return d
}

// add records a request sent at now.
func (d *dayLog) add(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pruneLocked(now)
	if len(d.sent) >= maxLogged {
		d.sent = d.sent[1:]
	}
	d.sent = append(d.sent, now)
}

func (d *dayLog) pruneLocked(now time.Time) {
	n := 0
	for n < len(d.sent) && !d.sent[n].Add(window).After(now) {
		n++
	}
	d.sent = d.sent[n:]
}

// freesIn is how long until the window surely has a place again once Etsy
// said none is left: when our oldest request in it turns 24 hours old.
func (d *dayLog) freesIn(now time.Time) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pruneLocked(now)
	if len(d.sent) == 0 {
		return unknownFree
	}
	return d.sent[0].Add(window + arrival).Sub(now)
}
