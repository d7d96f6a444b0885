package console

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	opsv1 "github.com/printfleet/printfleet/proto/printfleet/ops/v1"
	ordersv1 "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
)

// overview is the landing page: the live figures and the queues.
func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	data := struct {
		Figures  Snapshot
		Queues   []*opsv1.QueueStats
		QueueErr string
		Stuck    int
		StuckErr string
	}{Figures: c.figures.Look(ctx)}
	if q, err := c.o.Ops.ListQueues(ctx, &opsv1.ListQueuesRequest{}); err != nil {
		data.QueueErr = c.sectionError(ctx, "queues", err)
	} else {
		data.Queues = q.GetQueues()
	}
	if s, err := c.o.Orders.ListStuckOrders(ctx, &ordersv1.ListStuckOrdersRequest{PageSize: 500}); err != nil {
		data.StuckErr = c.sectionError(ctx, "stuck orders", err)
	} else {
		data.Stuck = len(s.GetOrders())
	}
	c.render(w, r, http.StatusOK, "overview", &view{Title: "Overview", Refresh: 10, Data: data})
}

// orderQuery is the order search form.
type orderQuery struct {
	Q, User, Store, Status, From, To, PageToken string
}

// searchOrders finds orders by id, external order id, store, user, status
// and creation date.
func (c *Console) searchOrders(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := orderQuery{
		Q: strings.TrimSpace(r.FormValue("q")), User: strings.TrimSpace(r.FormValue("user")),
		Store: strings.TrimSpace(r.FormValue("store")), Status: r.FormValue("status"),
		From: r.FormValue("from"), To: r.FormValue("to"), PageToken: r.FormValue("page_token"),
	}
	data := struct {
		Query    orderQuery
		Statuses []string
		Searched bool
		Orders   []*ordersv1.Order
		Next     string
		NextURL  string
	}{Query: q, Statuses: orderStatuses()}
	v := &view{Title: "Orders", Data: &data}
	if q == (orderQuery{}) {
		c.render(w, r, http.StatusOK, "orders", v)
		return
	}
	data.Searched = true
	// An order id goes straight to its page.
	if _, err := uuid.Parse(q.Q); err == nil && q.User == "" && q.Store == "" && q.Status == "" && q.From == "" && q.To == "" {
		if o, err := c.o.Orders.GetOrder(ctx, &ordersv1.GetOrderRequest{OrderId: q.Q}); err == nil {
			http.Redirect(w, r, Prefix+"/orders/"+url.PathEscape(o.GetId()), http.StatusSeeOther)
			return
		}
	}
	req := &ordersv1.ListOrdersRequest{PageSize: 50, UserId: q.User, StoreId: q.Store, ExternalOrderId: q.Q, PageToken: q.PageToken}
	if q.Status != "" {
		st, ok := ordersv1.OrderStatus_value["ORDER_STATUS_"+q.Status]
		if !ok {
			v.Error = "Unknown status."
			c.render(w, r, http.StatusBadRequest, "orders", v)
			return
		}
		req.Status = ordersv1.OrderStatus(st)
	}
	for _, d := range []struct {
		s   string
		dst **timestamppb.Timestamp
		add time.Duration
	}{{q.From, &req.CreatedAfter, 0}, {q.To, &req.CreatedBefore, 24 * time.Hour}} {
		if d.s == "" {
			continue
		}
		t, err := time.Parse("2006-01-02", d.s)
		if err != nil {
			v.Error = "Dates are YYYY-MM-DD."
			c.render(w, r, http.StatusBadRequest, "orders", v)
			return
		}
		*d.dst = timestamppb.New(t.Add(d.add))
	}
	// Without a user, every owner's orders (the operator's role allows it).
	req.AllOwners = q.User == ""
	resp, err := c.o.Orders.ListOrders(ctx, req)
	if err != nil {
		code, msg := c.explain(ctx, "orders", err)
		v.Error = msg
		c.render(w, r, code, "orders", v)
		return
	}
	data.Orders = resp.GetOrders()
	if t := resp.GetNextPageToken(); t != "" {
		vals := r.URL.Query()
		vals.Set("page_token", t)
		data.NextURL = Prefix + "/orders?" + vals.Encode()
	}
	c.render(w, r, http.StatusOK, "orders", v)
}

// maxStores bounds the stores one page walks.
const maxStores = 1000

// allStores lists every store (every owner's, for an operator).
func (c *Console) allStores(ctx context.Context) ([]*catalogv1.Store, error) {
	var stores []*catalogv1.Store
	tok := ""
	for len(stores) < maxStores {
		resp, err := c.o.Catalog.ListStores(ctx, &catalogv1.ListStoresRequest{PageSize: 100, PageToken: tok})
		if err != nil {
			return stores, err
		}
		stores = append(stores, resp.GetStores()...)
		if tok = resp.GetNextPageToken(); tok == "" {
			break
		}
	}
	return stores, nil
}

func orderStatuses() []string {
	var out []string
	for i := int32(1); ; i++ {
		n, ok := ordersv1.OrderStatus_name[i]
		if !ok {
			return out
		}
		out = append(out, strings.TrimPrefix(n, "ORDER_STATUS_"))
	}
}

// stuckPage lists the reconciler's stuck orders and the held imports.
func (c *Console) stuckPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	data := struct {
		Stuck      []*ordersv1.StuckOrder
		StuckAfter time.Duration
		StuckErr   string
		Held       []*ordersv1.Order
		HeldMore   bool
		HeldErr    string
	}{}
	if s, err := c.o.Orders.ListStuckOrders(ctx, &ordersv1.ListStuckOrdersRequest{PageSize: 200}); err != nil {
		data.StuckErr = c.sectionError(ctx, "stuck orders", err)
	} else {
		data.Stuck = s.GetOrders()
		data.StuckAfter = time.Duration(s.GetStuckAfterSeconds()) * time.Second
	}
	if held, more, err := c.heldImports(ctx); err != nil {
		data.HeldErr = c.sectionError(ctx, "held imports", err)
	} else {
		data.Held, data.HeldMore = held, more
	}
	c.render(w, r, http.StatusOK, "stuck", &view{Title: "Stuck and held", Data: data})
}

// heldImports are the ON_HOLD orders of every owner, newest first: the
// first page, and whether there are more (the page links to the order
// search by status, which pages through them all).
func (c *Console) heldImports(ctx context.Context) ([]*ordersv1.Order, bool, error) {
	resp, err := c.o.Orders.ListOrders(ctx, &ordersv1.ListOrdersRequest{
		PageSize: 100, AllOwners: true, Status: ordersv1.OrderStatus_ORDER_STATUS_ON_HOLD})
	if err != nil {
		return nil, false, err
	}
	return resp.GetOrders(), resp.GetNextPageToken() != "", nil
}

// deadLettersPage lists the queues and the parked dead letters (of one
// queue with ?queue=).
func (c *Console) deadLettersPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	data := struct {
		Queue    string
		State    string
		Queues   []*opsv1.QueueStats
		QueueErr string
		Letters  []*opsv1.DeadLetter
		Err      string
		NextURL  string
	}{Queue: r.FormValue("queue"), State: r.FormValue("state")}
	if q, err := c.o.Ops.ListQueues(ctx, &opsv1.ListQueuesRequest{}); err != nil {
		data.QueueErr = c.sectionError(ctx, "queues", err)
	} else {
		data.Queues = q.GetQueues()
	}
	req := &opsv1.ListDeadLettersRequest{Queue: data.Queue, PageSize: 100, PageToken: r.FormValue("page_token")}
	if data.State != "" {
		st, ok := opsv1.DeadLetterState_value["DEAD_LETTER_STATE_"+data.State]
		if !ok {
			c.renderStatus(w, r, http.StatusBadRequest, "Bad request", "Unknown state.")
			return
		}
		req.State = opsv1.DeadLetterState(st)
	}
	if l, err := c.o.Ops.ListDeadLetters(ctx, req); err != nil {
		data.Err = c.sectionError(ctx, "dead letters", err)
	} else {
		data.Letters = l.GetDeadLetters()
		if t := l.GetNextPageToken(); t != "" {
			vals := r.URL.Query()
			vals.Set("page_token", t)
			data.NextURL = Prefix + "/dead-letters?" + vals.Encode()
		}
	}
	c.render(w, r, http.StatusOK, "deadletters", &view{Title: "Dead letters", Data: data, Flash: flash(r)})
}

// deadLetterPage shows one dead letter decoded, with its actions.
func (c *Console) deadLetterPage(w http.ResponseWriter, r *http.Request) {
	c.showDeadLetter(w, r, http.StatusOK, "", "")
}

func (c *Console) showDeadLetter(w http.ResponseWriter, r *http.Request, code int, errMsg, reason string) {
	ctx := r.Context()
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		c.renderStatus(w, r, http.StatusNotFound, "Not found", "No such dead letter.")
		return
	}
	dl, err := c.o.Ops.GetDeadLetter(ctx, &opsv1.GetDeadLetterRequest{Id: id})
	if err != nil {
		c.fail(w, r, "dead letter", err)
		return
	}
	data := struct {
		Letter *opsv1.DeadLetter
		Parked bool
		Reason string
	}{Letter: dl, Parked: dl.GetState() == opsv1.DeadLetterState_DEAD_LETTER_STATE_PARKED, Reason: reason}
	c.render(w, r, code, "deadletter", &view{Title: "Dead letter", Data: data, Error: errMsg, Flash: flash(r)})
}

// actionID is the form's action id, or "" when it is not a UUID.
func actionID(r *http.Request) string {
	id := r.PostFormValue("action_id")
	if _, err := uuid.Parse(id); err != nil {
		return ""
	}
	return id
}

// replay publishes one dead letter again.
func (c *Console) replay(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	aid := actionID(r)
	if aid == "" {
		c.showDeadLetter(w, r, http.StatusBadRequest, "The form has no action id; reload the page.", "")
		return
	}
	_, err := c.o.Ops.ReplayDeadLetter(r.Context(), &opsv1.ReplayDeadLetterRequest{Id: id, ActionId: aid,
		Reason: strings.TrimSpace(r.PostFormValue("reason"))})
	if err != nil {
		code, msg := c.explain(r.Context(), "replay", err)
		c.showDeadLetter(w, r, code, msg, "")
		return
	}
	http.Redirect(w, r, Prefix+"/dead-letters/"+url.PathEscape(id)+"?done=replayed", http.StatusSeeOther)
}

// discard drops one dead letter; the reason is required.
func (c *Console) discard(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	aid := actionID(r)
	switch {
	case aid == "":
		c.showDeadLetter(w, r, http.StatusBadRequest, "The form has no action id; reload the page.", reason)
		return
	case len(reason) < 3:
		c.showDeadLetter(w, r, http.StatusBadRequest, "A reason is required to discard a dead letter (at least 3 characters).", reason)
		return
	case len(reason) > 500:
		c.showDeadLetter(w, r, http.StatusBadRequest, "The reason is too long (at most 500 characters).", reason)
		return
	}
	_, err := c.o.Ops.DiscardDeadLetter(r.Context(), &opsv1.DiscardDeadLetterRequest{Id: id, ActionId: aid, Reason: reason})
	if err != nil {
		code, msg := c.explain(r.Context(), "discard", err)
		c.showDeadLetter(w, r, code, msg, reason)
		return
	}
	http.Redirect(w, r, Prefix+"/dead-letters/"+url.PathEscape(id)+"?done=discarded", http.StatusSeeOther)
}

// replayQueue replays every parked dead letter of a queue.
func (c *Console) replayQueue(w http.ResponseWriter, r *http.Request) {
	queue := r.PathValue("queue")
	aid := actionID(r)
	if aid == "" {
		c.renderStatus(w, r, http.StatusBadRequest, "Bad request", "The form has no action id; reload the page.")
		return
	}
	res, err := c.o.Ops.ReplayQueue(r.Context(), &opsv1.ReplayQueueRequest{Queue: queue, ActionId: aid,
		Reason: strings.TrimSpace(r.PostFormValue("reason"))})
	if err != nil {
		c.fail(w, r, "replay queue", err)
		return
	}
	http.Redirect(w, r, Prefix+"/dead-letters?queue="+url.QueryEscape(queue)+"&done=replayed_"+strconv.Itoa(int(res.GetAffected())), http.StatusSeeOther)
}

// flash is the message of a finished action (?done=), from a closed set.
func flash(r *http.Request) string {
	d := r.URL.Query().Get("done")
	switch {
	case d == "replayed":
		return "Replayed: the message is back in its queue."
	case d == "discarded":
		return "Discarded."
	case strings.HasPrefix(d, "replayed_"):
		n := strings.TrimPrefix(d, "replayed_")
		for _, ch := range n {
			if ch < '0' || ch > '9' {
				return ""
			}
		}
		return "Replayed " + n + " dead letter(s)."
	}
	return ""
}

// storeRow is one store's health.
type storeRow struct {
	Store    *catalogv1.Store
	Activity *ordersv1.StoreActivity
	// Budget is the marketplace worker's budget use ratio (nil: unknown).
	Budget *float64
}

// storesPage shows every store's health.
func (c *Console) storesPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	data := struct {
		Stores      []storeRow
		Err         string
		ActivityErr string
		Truncated   bool
	}{}
	stores, err := c.allStores(ctx)
	if err != nil {
		data.Err = c.sectionError(ctx, "stores", err)
	}
	data.Truncated = len(stores) >= maxStores
	activity := map[string]*ordersv1.StoreActivity{}
	for i := 0; i < len(stores); i += 200 {
		var ids []string
		for _, s := range stores[i:min(i+200, len(stores))] {
			ids = append(ids, s.GetId())
		}
		resp, err := c.o.Orders.ListStoreActivity(ctx, &ordersv1.ListStoreActivityRequest{StoreIds: ids})
		if err != nil {
			data.ActivityErr = c.sectionError(ctx, "store activity", err)
			break
		}
		for _, a := range resp.GetStores() {
			activity[a.GetStoreId()] = a
		}
	}
	budgets := c.figures.Budgets(ctx)
	for _, s := range stores {
		row := storeRow{Store: s, Activity: activity[s.GetId()]}
		market := strings.ToLower(strings.TrimPrefix(s.GetMarketplace().String(), "MARKETPLACE_"))
		if b, ok := budgets[BudgetKey(market, s.GetShopId())]; ok {
			row.Budget = &b
		}
		data.Stores = append(data.Stores, row)
	}
	c.render(w, r, http.StatusOK, "stores", &view{Title: "Stores", Data: data})
}

// auditPage pages through the audit log.
func (c *Console) auditPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	data := struct {
		Target  string
		Entries []*opsv1.AuditEntry
		NextURL string
	}{Target: strings.TrimSpace(r.FormValue("target"))}
	resp, err := c.o.Ops.ListAudit(ctx, &opsv1.ListAuditRequest{PageSize: 100, PageToken: r.FormValue("page_token"), Target: data.Target})
	if err != nil {
		c.fail(w, r, "audit log", err)
		return
	}
	data.Entries = resp.GetEntries()
	if t := resp.GetNextPageToken(); t != "" {
		vals := r.URL.Query()
		vals.Set("page_token", t)
		data.NextURL = Prefix + "/audit?" + vals.Encode()
	}
	c.render(w, r, http.StatusOK, "audit", &view{Title: "Audit log", Data: data})
}
