package console

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	opsv1 "github.com/printfleet/printfleet/proto/printfleet/ops/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	webhooksv1 "github.com/printfleet/printfleet/proto/printfleet/webhooks/v1"
)

// orderView is an order's whole way on one page. Each section carries its
// own error so that one unavailable service leaves the rest readable.
type orderView struct {
	Order *ordersv1.Order
	// Timeline is every entry, oldest first; the sections below pick theirs
	// from it.
	Timeline    []*ordersv1.OrderEvent
	TimelineErr string
	Payment     []*ordersv1.OrderEvent
	Stock       []*ordersv1.OrderEvent
	Pushes      []*ordersv1.OrderEvent
	Files       []fileLink
	FilesErr    string
	Designs     []*catalogv1.Design
	DesignsErr  string
	Shipments   []*ordersv1.Shipment // the order's own (GetOrder carries them)
	Deliveries  []*webhooksv1.Delivery
	DelivErr    string
	Letters     []*opsv1.DeadLetter
	LettersErr  string
	TraceID     string
	TraceURL    string
}

// fileLink is a rendered file of an item with its short-lived link.
type fileLink struct {
	ItemID, Title, Kind, Key, URL string
}

var traceIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// timelineMax bounds the entries one page loads.
const timelineMax = 1000

// orderPage shows one order with its timeline, payment, stock, print files,
// packages, marketplace pushes, webhook deliveries, dead letters and trace.
func (c *Console) orderPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("order_id")
	if _, err := uuid.Parse(id); err != nil {
		c.renderStatus(w, r, http.StatusNotFound, "Not found", "No such order.")
		return
	}
	o, err := c.o.Orders.GetOrder(ctx, &ordersv1.GetOrderRequest{OrderId: id})
	if err != nil {
		c.fail(w, r, "order", err)
		return
	}
	v := &orderView{Order: o, Shipments: o.GetShipments()}
	if tid := strings.ToLower(o.GetTraceId()); traceIDPattern.MatchString(tid) {
		v.TraceID = tid
		if c.o.Config.TraceURL != "" {
			v.TraceURL = strings.ReplaceAll(c.o.Config.TraceURL, "{trace_id}", tid)
		}
	}
	var mu sync.Mutex
	set := func(f func()) { mu.Lock(); f(); mu.Unlock() }
	var g errgroup.Group
	g.Go(func() error {
		events, err := c.timeline(ctx, id)
		set(func() { v.Timeline, v.TimelineErr = events, c.sectionError(ctx, "timeline", err) })
		return nil
	})
	g.Go(func() error {
		resp, err := c.o.Webhooks.ListOrderDeliveries(ctx, &webhooksv1.ListOrderDeliveriesRequest{OrderId: id, PageSize: 100})
		set(func() {
			v.Deliveries, v.DelivErr = resp.GetDeliveries(), c.sectionError(ctx, "webhook deliveries", err)
		})
		return nil
	})
	g.Go(func() error {
		letters, err := c.orderLetters(ctx, id)
		set(func() { v.Letters, v.LettersErr = letters, c.sectionError(ctx, "dead letters", err) })
		return nil
	})
	g.Go(func() error {
		files, err := c.renderLinks(ctx, o)
		set(func() { v.Files, v.FilesErr = files, c.sectionError(ctx, "print files", err) })
		return nil
	})
	g.Go(func() error {
		designs, err := c.designs(ctx, o)
		set(func() { v.Designs, v.DesignsErr = designs, c.sectionError(ctx, "designs", err) })
		return nil
	})
	_ = g.Wait()
	for _, e := range v.Timeline {
		switch t := e.GetType(); {
		case strings.HasPrefix(t, "payment."):
			v.Payment = append(v.Payment, e)
		case strings.HasPrefix(t, "stock."):
			v.Stock = append(v.Stock, e)
		case strings.HasPrefix(t, "marketplace."):
			v.Pushes = append(v.Pushes, e)
		}
	}
	c.render(w, r, http.StatusOK, "order", &view{Title: "Order " + o.GetId(), Data: v})
}

// timeline loads an order's entries, up to timelineMax.
func (c *Console) timeline(ctx context.Context, id string) ([]*ordersv1.OrderEvent, error) {
	var out []*ordersv1.OrderEvent
	tok := ""
	for len(out) < timelineMax {
		resp, err := c.o.Orders.ListOrderEvents(ctx, &ordersv1.ListOrderEventsRequest{OrderId: id, PageSize: 200, PageToken: tok})
		if err != nil {
			return out, err
		}
		out = append(out, resp.GetEvents()...)
		if tok = resp.GetNextPageToken(); tok == "" {
			break
		}
	}
	return out, nil
}

// orderLetters are the order's dead letters in every state, newest first.
func (c *Console) orderLetters(ctx context.Context, id string) ([]*opsv1.DeadLetter, error) {
	var out []*opsv1.DeadLetter
	for _, st := range []opsv1.DeadLetterState{opsv1.DeadLetterState_DEAD_LETTER_STATE_PARKED,
		opsv1.DeadLetterState_DEAD_LETTER_STATE_REPLAYED, opsv1.DeadLetterState_DEAD_LETTER_STATE_DISCARDED} {
		resp, err := c.o.Ops.ListDeadLetters(ctx, &opsv1.ListDeadLettersRequest{OrderId: id, State: st, PageSize: 50})
		if err != nil {
			return out, err
		}
		out = append(out, resp.GetDeadLetters()...)
	}
	slices.SortFunc(out, func(a, b *opsv1.DeadLetter) int {
		return b.GetDeadLetteredAt().AsTime().Compare(a.GetDeadLetteredAt().AsTime())
	})
	return out, nil
}

// renderLinks signs short-lived links to the items' print files and
// mockups.
func (c *Console) renderLinks(ctx context.Context, o *ordersv1.Order) ([]fileLink, error) {
	var files []fileLink
	for _, it := range o.GetItems() {
		if k := it.GetPrintFileKey(); k != "" {
			files = append(files, fileLink{ItemID: it.GetId(), Title: it.GetTitle(), Kind: "print file", Key: k})
		}
		if k := it.GetMockupKey(); k != "" {
			files = append(files, fileLink{ItemID: it.GetId(), Title: it.GetTitle(), Kind: "mockup", Key: k})
		}
	}
	if len(files) == 0 {
		return nil, nil
	}
	keys := make([]string, len(files))
	for i, f := range files {
		keys[i] = f.Key
	}
	resp, err := c.o.Catalog.SignRenderLinks(ctx, &catalogv1.SignRenderLinksRequest{Keys: keys})
	if err != nil {
		return files, err
	}
	for i, u := range resp.GetUrls() {
		if i < len(files) {
			files[i].URL = u
		}
	}
	return files, nil
}

// designs fetches the order's designs (with their presigned thumbnail and
// preview links).
func (c *Console) designs(ctx context.Context, o *ordersv1.Order) ([]*catalogv1.Design, error) {
	var ids []string
	for _, it := range o.GetItems() {
		if d := it.GetDesignId(); d != "" && !slices.Contains(ids, d) {
			ids = append(ids, d)
		}
	}
	var out []*catalogv1.Design
	var firstErr error
	for _, id := range ids {
		d, err := c.o.Catalog.GetDesign(ctx, &catalogv1.GetDesignRequest{DesignId: id})
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		out = append(out, d)
	}
	return out, firstErr
}
