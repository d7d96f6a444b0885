package harness

import (
	"testing"
)

func TestParseCounter(t *testing.T) {
	t.Parallel()
	text := `# HELP catalog_projection_reads_total Product reads by projection outcome (hit, miss, error).
# TYPE catalog_projection_reads_total counter
catalog_projection_reads_total{op="get",result="hit"} 6740
catalog_projection_reads_total{op="get",result="miss"} 3
catalog_projection_reads_total{op="list",result="hit"} 2
catalog_projection_reads_total_other{op="get",result="hit"} 99
`
	got := parseCounter(text, "catalog_projection_reads_total", "op", "get", "result")
	if len(got) != 2 || got["hit"] != 6740 || got["miss"] != 3 {
		t.Errorf("parsed %v", got)
	}
}

func TestQueryCount(t *testing.T) {
	t.Parallel()
	q := &queryCount{requests: 10000, xacts: 120, idleXacts: 100}
	if q.excess() != 20 || q.perRequest() != 0.002 {
		t.Errorf("excess %v per request %v", q.excess(), q.perRequest())
	}
	if (&queryCount{}).perRequest() != 0 {
		t.Error("no requests must not divide by zero")
	}
}
