package marketplace

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/printfleet/printfleet/sandbox/internal/sim"
)

// etsyListReceipts is getShopReceipts (GET /v3/application/shops/{shop_id}/
// receipts): the shop's receipts filtered by min_created, max_created,
// min_last_modified, max_last_modified (unix seconds, inclusive), was_paid,
// was_shipped and was_canceled, sorted on created (default), updated or
// receipt_id, asc or desc (default desc), paged by limit (1..100, default 25)
// and offset. The answer is {"count": <matches in all pages>, "results": [...]}.
// It spends the key's budget like every Etsy call.
func (s *Server) etsyListReceipts(w http.ResponseWriter, r *http.Request) {
	if !s.etsyAdmit(w, r) {
		return
	}
	invalid := func(msg string) {
		s.count(Etsy, func(c *Counters) { c.ValidationErrors++ })
		etsyError(w, http.StatusBadRequest, msg)
	}
	shopID, ok := parseID(r.PathValue("shop_id"))
	if !ok {
		invalid("shop_id must be a positive integer")
		return
	}
	q := r.URL.Query()
	intParam := func(name string, def, lo, hi int64) (int64, bool) {
		v := q.Get(name)
		if v == "" {
			return def, true
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			invalid(name + " must be an integer from " + strconv.FormatInt(lo, 10) + " to " + strconv.FormatInt(hi, 10))
			return 0, false
		}
		return n, true
	}
	const maxTS = 1 << 40
	minCreated, ok1 := intParam("min_created", 0, 0, maxTS)
	maxCreated, ok2 := intParam("max_created", maxTS, 0, maxTS)
	minModified, ok3 := intParam("min_last_modified", 0, 0, maxTS)
	maxModified, ok4 := intParam("max_last_modified", maxTS, 0, maxTS)
	limit, ok5 := intParam("limit", 25, 1, 100)
	offset, ok6 := intParam("offset", 0, 0, 1<<31)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return
	}
	boolParam := func(name string) (*bool, bool) {
		v := q.Get(name)
		if v == "" {
			return nil, true
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			invalid(name + " must be a boolean")
			return nil, false
		}
		return &b, true
	}
	wasPaid, okp := boolParam("was_paid")
	wasShipped, oks := boolParam("was_shipped")
	wasCanceled, okc := boolParam("was_canceled")
	if !okp || !oks || !okc {
		return
	}
	sortOn := cmp.Or(q.Get("sort_on"), "created")
	if sortOn != "created" && sortOn != "updated" && sortOn != "receipt_id" {
		invalid("sort_on must be one of created, updated, receipt_id")
		return
	}
	desc := true
	switch strings.ToLower(cmp.Or(q.Get("sort_order"), "desc")) {
	case "asc", "ascending", "up":
		desc = false
	case "desc", "descending", "down":
	default:
		invalid("sort_order must be one of asc, ascending, desc, descending, up, down")
		return
	}

	s.mu.Lock()
	s.countLocked(Etsy, func(c *Counters) { c.Reads++ })
	var match []*etsyReceipt
	for _, rc := range s.etsy.receipts {
		paid, shipped, canceled := rc.status != "Open", len(rc.shipments) > 0, rc.status == "Canceled"
		switch {
		case rc.shopID != shopID,
			rc.created.Unix() < minCreated, rc.created.Unix() > maxCreated,
			rc.updated.Unix() < minModified, rc.updated.Unix() > maxModified,
			wasPaid != nil && *wasPaid != paid,
			wasShipped != nil && *wasShipped != shipped,
			wasCanceled != nil && *wasCanceled != canceled:
			continue
		}
		match = append(match, rc)
	}
	key := func(rc *etsyReceipt) int64 {
		switch sortOn {
		case "updated":
			return rc.updated.Unix()
		case "receipt_id":
			return rc.receiptID
		}
		return rc.created.Unix()
	}
	slices.SortFunc(match, func(a, b *etsyReceipt) int {
		c := cmp.Or(cmp.Compare(key(a), key(b)), cmp.Compare(a.receiptID, b.receiptID))
		if desc {
			return -c
		}
		return c
	})
	results := []map[string]any{}
	for i := offset; i < int64(len(match)) && i < offset+limit; i++ {
		results = append(results, match[i].json())
	}
	s.mu.Unlock()
	sim.WriteJSON(w, http.StatusOK, map[string]any{"count": len(match), "results": results})
}
