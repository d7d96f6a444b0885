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
// last 24 hours, oldest first, and what Etsy last said is left of the day.
//
// Etsy's x-remaining-today is a count at the moment it answered; requests
// sent after the answered one are not in it. The log keeps the count of the
// newest-sent request answered and gives a request a place only while that
// count, less this process's requests sent since, plus this process's
// requests that left the 24-hour window since, is above zero. Concurrent
// polls therefore never send more than the day has left, however slowly the
// answers come (the per-second bucket alone let them).
type dayLog struct {
	mu   sync.Mutex
	sent []time.Time
	seq  uint64 // requests sent so far (the newest one's number)

	reported     int       // x-remaining-today of the newest-sent answered request
	reportedSeq  uint64    // that request's number; 0: no answer yet
	reportedSent time.Time // when it was sent
	freed        int       // requests sent before it that left the window since
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

// reserve records a request about to be sent at now and returns its number,
// or 0 when the day, as Etsy last counted it, has no place left for it.
func (d *dayLog) reserve(now time.Time) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pruneLocked(now)
	if d.reportedSeq != 0 && d.reported+d.freed-int(d.seq-d.reportedSeq) <= 0 {
		return 0
	}
	if len(d.sent) >= maxLogged {
		d.sent = d.sent[1:]
	}
	d.sent = append(d.sent, now)
	d.seq++
	return d.seq
}

// report records Etsy's x-remaining-today in the answer to request seq,
// sent at sent. An answer to an older request than the last reported one
// says nothing newer and is ignored.
func (d *dayLog) report(remaining int, seq uint64, sent time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if seq <= d.reportedSeq {
		return
	}
	d.reported, d.reportedSeq, d.reportedSent, d.freed = remaining, seq, sent, 0
}

func (d *dayLog) pruneLocked(now time.Time) {
	n := 0
	for n < len(d.sent) && !d.sent[n].Add(window).After(now) {
		if d.reportedSeq != 0 && !d.sent[n].After(d.reportedSent) {
			d.freed++ // counted in the report, out of the window now
		}
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
