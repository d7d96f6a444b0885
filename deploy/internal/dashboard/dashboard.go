// Package dashboard builds printfleet's Grafana dashboard: one row per
// process with its rate, errors and duration (RED), and an order-pipeline
// row (outbox lag, dead-letter queues, state transitions, breaker,
// projection lag). The JSON is generated so the panels stay uniform; the
// render command writes it to deploy/k8s/observability.
package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Panel is one time series panel.
type Panel struct {
	Title   string
	Unit    string
	Targets []Target
	// Width in grid units (24 per row); 0 means 8.
	Width int
}

// Target is one query with its legend.
type Target struct {
	Expr   string
	Legend string
}

// Row is a titled group of panels.
type Row struct {
	Title  string
	Panels []Panel
}

// sel is the selector every query carries: the namespace variable.
const ns = `namespace=~"$namespace"`

// rate is Grafana's rate interval, which adapts to the scrape interval.
const ri = "$__rate_interval"

// grpcErrorCodes are server-side failures (client errors are answers).
const grpcErrorCodes = `Unknown|Internal|Unavailable|DataLoss|DeadlineExceeded|Unimplemented`

func grpcRow(job, title string) Row {
	m := fmt.Sprintf(`job="%s",%s,grpc_service!="grpc.health.v1.Health"`, job, ns)
	return Row{Title: title, Panels: []Panel{
		{Title: "Rate by method", Unit: "reqps", Targets: []Target{{
			Expr:   fmt.Sprintf(`sum by (grpc_method) (rate(grpc_server_handled_total{%s}[%s]))`, m, ri),
			Legend: "{{grpc_method}}",
		}}},
		{Title: "Errors (server-side codes)", Unit: "percentunit", Targets: []Target{
			{
				Expr: fmt.Sprintf(`sum by (grpc_method) (rate(grpc_server_handled_total{%s,grpc_code=~"%s"}[%s])) / sum by (grpc_method) (rate(grpc_server_handled_total{%s}[%s]))`,
					m, grpcErrorCodes, ri, m, ri),
				Legend: "{{grpc_method}}",
			},
		}},
		{Title: "Duration p50 / p95 / p99", Unit: "s", Targets: quantiles(
			fmt.Sprintf(`sum by (le) (rate(grpc_server_handling_seconds_bucket{%s,grpc_type="unary"}[%s]))`, m, ri))},
	}}
}

func quantiles(buckets string) []Target {
	var ts []Target
	for _, q := range []string{"0.5", "0.95", "0.99"} {
		ts = append(ts, Target{Expr: fmt.Sprintf("histogram_quantile(%s, %s)", q, buckets), Legend: "p" + strings.TrimPrefix(q, "0.")})
	}
	return ts
}

// workerRow shows a queue consumer's RED from the platform's AMQP metrics.
func workerRow(job, title string, extra ...Panel) Row {
	m := fmt.Sprintf(`job="%s",%s`, job, ns)
	return Row{Title: title, Panels: append([]Panel{
		{Title: "Messages handled by queue", Unit: "ops", Targets: []Target{{
			Expr:   fmt.Sprintf(`sum by (queue) (rate(printfleet_amqp_consumer_handled_total{%s}[%s]))`, m, ri),
			Legend: "{{queue}}",
		}}},
		{Title: "Retries and dead-letters", Unit: "ops", Targets: []Target{{
			Expr:   fmt.Sprintf(`sum by (queue, outcome) (rate(printfleet_amqp_consumer_handled_total{%s,outcome!="ack"}[%s]))`, m, ri),
			Legend: "{{queue}} {{outcome}}",
		}}},
		{Title: "Handler duration p50 / p95 / p99", Unit: "s", Targets: quantiles(
			fmt.Sprintf(`sum by (le) (rate(printfleet_amqp_consumer_handler_duration_seconds_bucket{%s}[%s]))`, m, ri))},
	}, extra...)}
}

// Rows is the dashboard's content, top to bottom.
func Rows() []Row {
	gw := fmt.Sprintf(`job="gateway",%s`, ns)
	return []Row{
		{Title: "Gateway (REST)", Panels: []Panel{
			{Title: "Requests by status class", Unit: "reqps", Targets: []Target{{
				Expr:   fmt.Sprintf(`sum by (code) (rate(printfleet_gateway_http_requests_total{%s}[%s]))`, gw, ri),
				Legend: "{{code}}",
			}}},
			{Title: "5xx ratio by route", Unit: "percentunit", Targets: []Target{{
				Expr: fmt.Sprintf(`sum by (route) (rate(printfleet_gateway_http_requests_total{%s,code="5xx"}[%s])) / sum by (route) (rate(printfleet_gateway_http_requests_total{%s}[%s]))`,
					gw, ri, gw, ri),
				Legend: "{{route}}",
			}}},
			{Title: "Duration p50 / p95 / p99", Unit: "s", Targets: quantiles(
				fmt.Sprintf(`sum by (le) (rate(printfleet_gateway_http_request_duration_seconds_bucket{%s,route!="unmatched"}[%s]))`, gw, ri))},
			{Title: "p99 by route", Unit: "s", Width: 12, Targets: []Target{{
				Expr:   fmt.Sprintf(`histogram_quantile(0.99, sum by (route, le) (rate(printfleet_gateway_http_request_duration_seconds_bucket{%s,route!="unmatched"}[%s])))`, gw, ri),
				Legend: "{{route}}",
			}}},
			{Title: "In flight", Unit: "short", Width: 12, Targets: []Target{{
				Expr:   fmt.Sprintf(`sum(printfleet_gateway_http_requests_in_flight{%s})`, gw),
				Legend: "in flight",
			}}},
		}},
		grpcRow("orders", "orders (gRPC)"),
		grpcRow("catalog", "catalog (gRPC)"),
		grpcRow("pricing", "pricing (gRPC)"),
		workerRow("orders-worker", "orders-worker (payments)",
			Panel{Title: "Payment attempts by outcome", Unit: "ops", Width: 24, Targets: []Target{{
				Expr:   fmt.Sprintf(`sum by (op, outcome) (rate(printfleet_orders_payment_attempts_total{%s}[%s]))`, ns, ri),
				Legend: "{{op}} {{outcome}}",
			}}}),
		workerRow("catalog-worker", "catalog-worker (stock, projector, designs)"),
		workerRow("pricing-worker", "pricing-worker (coupons)"),
		workerRow("images", "images worker",
			Panel{Title: "Job duration p99 by kind", Unit: "s", Width: 24, Targets: []Target{{
				Expr:   fmt.Sprintf(`histogram_quantile(0.99, sum by (kind, le) (rate(printfleet_images_job_duration_seconds_bucket{job="images",%s}[%s])))`, ns, ri),
				Legend: "{{kind}}",
			}}}),
		workerRow("marketplace", "marketplace worker",
			Panel{Title: "Pushes by marketplace and outcome", Unit: "ops", Targets: []Target{{
				Expr:   fmt.Sprintf(`sum by (marketplace, outcome) (rate(printfleet_marketplace_pushes_total{%s}[%s]))`, ns, ri),
				Legend: "{{marketplace}} {{outcome}}",
			}}},
			Panel{Title: "Push duration p99", Unit: "s", Targets: []Target{{
				Expr:   fmt.Sprintf(`histogram_quantile(0.99, sum by (marketplace, le) (rate(printfleet_marketplace_push_duration_seconds_bucket{%s}[%s])))`, ns, ri),
				Legend: "{{marketplace}}",
			}}},
			Panel{Title: "Throttled and budget-exhausted", Unit: "ops", Targets: []Target{
				{Expr: fmt.Sprintf(`sum by (marketplace) (rate(printfleet_marketplace_throttled_total{%s}[%s]))`, ns, ri), Legend: "{{marketplace}} throttled"},
				{Expr: fmt.Sprintf(`sum by (marketplace) (rate(printfleet_marketplace_budget_exhausted_total{%s}[%s]))`, ns, ri), Legend: "{{marketplace}} budget exhausted"},
			}},
			Panel{Title: "Imports by source and outcome", Unit: "ops", Targets: []Target{{
				Expr:   fmt.Sprintf(`sum by (marketplace, source, outcome) (rate(printfleet_marketplace_imports_total{%s}[%s]))`, ns, ri),
				Legend: "{{marketplace}} {{source}} {{outcome}}",
			}}},
			Panel{Title: "Import lag (worst store)", Unit: "s", Targets: []Target{{
				Expr:   fmt.Sprintf(`min by (marketplace) (printfleet_marketplace_import_lag_seconds{%s})`, ns),
				Legend: "{{marketplace}}",
			}}},
			Panel{Title: "Store polls by outcome", Unit: "ops", Targets: []Target{{
				Expr:   fmt.Sprintf(`sum by (marketplace, outcome) (rate(printfleet_marketplace_import_polls_total{%s}[%s]))`, ns, ri),
				Legend: "{{marketplace}} {{outcome}}",
			}}}),
		grpcRow("webhooks", "webhooks (gRPC)"),
		workerRow("webhooks", "webhooks (notices → deliveries)",
			Panel{Title: "Delivery attempts by outcome", Unit: "ops", Width: 12, Targets: []Target{{
				Expr:   fmt.Sprintf(`sum by (outcome) (rate(printfleet_webhooks_deliveries_total{job="webhooks",%s}[%s]))`, ns, ri),
				Legend: "{{outcome}}",
			}}},
			Panel{Title: "Delivery latency p99", Unit: "s", Width: 12, Targets: []Target{{
				Expr:   fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(printfleet_webhooks_delivery_duration_seconds_bucket{job="webhooks",%s}[%s])))`, ns, ri),
				Legend: "p99",
			}}},
			// Every replica reads the same rows: max, not sum.
			Panel{Title: "Oldest pending delivery (worst endpoint)", Unit: "s", Targets: []Target{{
				Expr:   fmt.Sprintf(`max(printfleet_webhooks_oldest_pending_seconds{job="webhooks",%s})`, ns),
				Legend: "oldest",
			}}},
			Panel{Title: "Pending deliveries", Unit: "short", Targets: []Target{{
				Expr:   fmt.Sprintf(`max(printfleet_webhooks_pending{job="webhooks",%s})`, ns),
				Legend: "pending",
			}}},
			Panel{Title: "Endpoints by status", Unit: "short", Targets: []Target{{
				Expr:   fmt.Sprintf(`max by (status) (printfleet_webhooks_endpoints{job="webhooks",%s})`, ns),
				Legend: "{{status}}",
			}}}),
		grpcRow("ops", "ops (gRPC: the operator console's dead letters)"),
		{Title: "ops (dead letters)", Panels: []Panel{
			// Every replica reads the same rows: max, not sum.
			{Title: "Parked dead letters by queue", Unit: "short", Targets: []Target{{
				Expr:   fmt.Sprintf(`max by (queue) (printfleet_ops_dead_letters_parked{job="ops",%s})`, ns),
				Legend: "{{queue}}",
			}}},
			{Title: "Dead letters parked", Unit: "ops", Targets: []Target{{
				Expr:   fmt.Sprintf(`sum by (queue) (rate(printfleet_ops_dead_letters_parked_total{job="ops",%s}[%s]))`, ns, ri),
				Legend: "{{queue}}",
			}}},
			{Title: "Operator actions by outcome", Unit: "ops", Targets: []Target{{
				Expr:   fmt.Sprintf(`sum by (action, outcome) (increase(printfleet_ops_actions_total{job="ops",%s}[%s]))`, ns, ri),
				Legend: "{{action}} {{outcome}}",
			}}},
		}},
		{Title: "Order pipeline", Panels: []Panel{
			{Title: "Outbox lag (oldest unpublished event)", Unit: "s", Targets: []Target{{
				Expr:   fmt.Sprintf(`max by (service) (printfleet_outbox_lag_seconds{%s})`, ns),
				Legend: "{{service}}",
			}}},
			{Title: "Dead-letter queue depth", Unit: "short", Targets: []Target{{
				Expr:   fmt.Sprintf(`max by (queue) (printfleet_amqp_queue_depth{%s,queue=~".*\\.dlq"})`, ns),
				Legend: "{{queue}}",
			}}},
			{Title: "Order state transitions", Unit: "ops", Targets: []Target{{
				Expr:   fmt.Sprintf(`sum by (to) (rate(printfleet_orders_transitions_total{%s}[%s]))`, ns, ri),
				Legend: "→ {{to}}",
			}}},
			{Title: "Outbox events published", Unit: "ops", Targets: []Target{{
				Expr:   fmt.Sprintf(`sum by (service) (rate(printfleet_outbox_published_total{%s}[%s]))`, ns, ri),
				Legend: "{{service}}",
			}}},
			{Title: "Payment breaker (0 closed, 1 half-open, 2 open)", Unit: "short", Targets: []Target{{
				Expr:   fmt.Sprintf(`max by (job) (printfleet_orders_payment_breaker_state{%s})`, ns),
				Legend: "{{job}}",
			}}},
			{Title: "Catalog projection lag p99", Unit: "s", Targets: []Target{{
				Expr:   fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(catalog_projection_lag_seconds_bucket{%s}[%s])))`, ns, ri),
				Legend: "p99",
			}}},
		}},
	}
}

// Exprs are every query of the dashboard (for checks).
func Exprs() []string {
	var out []string
	for _, r := range Rows() {
		for _, p := range r.Panels {
			for _, t := range p.Targets {
				out = append(out, t.Expr)
			}
		}
	}
	return out
}

// JSON is the Grafana dashboard model.
func JSON() ([]byte, error) {
	ds := map[string]any{"type": "prometheus", "uid": "${datasource}"}
	var panels []any
	id, y := 1, 0
	for _, r := range Rows() {
		panels = append(panels, map[string]any{
			"type": "row", "id": id, "title": r.Title, "collapsed": false,
			"gridPos": map[string]int{"h": 1, "w": 24, "x": 0, "y": y},
			"panels":  []any{},
		})
		id++
		y++
		x := 0
		for _, p := range r.Panels {
			w := p.Width
			if w == 0 {
				w = 8
			}
			if x+w > 24 {
				x = 0
				y += 8
			}
			var targets []any
			for i, t := range p.Targets {
				targets = append(targets, map[string]any{
					"refId": string(rune('A' + i)), "datasource": ds,
					"expr": t.Expr, "legendFormat": t.Legend, "range": true,
				})
			}
			panels = append(panels, map[string]any{
				"type": "timeseries", "id": id, "title": p.Title, "datasource": ds,
				"gridPos": map[string]int{"h": 8, "w": w, "x": x, "y": y},
				"targets": targets,
				"fieldConfig": map[string]any{
					"defaults":  map[string]any{"unit": p.Unit, "custom": map[string]any{"fillOpacity": 10}},
					"overrides": []any{},
				},
				"options": map[string]any{
					"legend":  map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true},
					"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
				},
			})
			id++
			x += w
		}
		y += 8
	}
	d := map[string]any{
		"uid":           "printfleet-overview",
		"title":         "printfleet",
		"description":   "RED per process and the order pipeline (outbox, dead letters, transitions).",
		"tags":          []string{"printfleet"},
		"schemaVersion": 39,
		"version":       1,
		"editable":      true,
		"graphTooltip":  1,
		"refresh":       "30s",
		"time":          map[string]string{"from": "now-1h", "to": "now"},
		"timezone":      "browser",
		"annotations":   map[string]any{"list": []any{}},
		"links":         []any{},
		"templating": map[string]any{"list": []any{
			map[string]any{
				"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
				"current": map[string]any{}, "hide": 0, "refresh": 1,
			},
			map[string]any{
				"name": "namespace", "label": "Namespace", "type": "query", "datasource": ds,
				"query":      map[string]any{"query": `label_values(up{job="gateway"}, namespace)`, "refId": "namespace"},
				"definition": `label_values(up{job="gateway"}, namespace)`,
				"includeAll": true, "allValue": ".*", "multi": true, "refresh": 2, "sort": 1,
				"current": map[string]any{"text": "All", "value": "$__all"}, "hide": 0,
			},
		}},
		"panels": panels,
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
