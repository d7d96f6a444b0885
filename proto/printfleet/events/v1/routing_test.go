package eventsv1_test

import (
	"os"
	"regexp"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

// TestKeysMatchContracts holds routing.go to events.proto: every message
// documented there as "// Name: key" has exactly that key here, and every key
// here names a message of the file.
func TestKeysMatchContracts(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("events.proto")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^// ([A-Z][A-Za-z]+): ([a-z_]+\.[a-z_]+\.v[0-9]+)`).FindAllStringSubmatch(string(src), -1) {
		documented[m[1]] = m[2]
	}
	if len(documented) == 0 {
		t.Fatal("no routing keys documented in events.proto")
	}
	for name, key := range documented {
		if got := eventsv1.Keys[name]; got != key {
			t.Errorf("%s: events.proto says %q, routing.go %q", name, key, got)
		}
	}
	msgs := eventsv1.File_printfleet_events_v1_events_proto.Messages()
	seen := map[string]bool{}
	for name, key := range eventsv1.Keys {
		if msgs.ByName(protoreflect.Name(name)) == nil {
			t.Errorf("routing.go names %s, which events.proto does not define", name)
		}
		if documented[name] == "" {
			t.Errorf("%s (%s) is not documented in events.proto", name, key)
		}
		if seen[key] {
			t.Errorf("routing key %s is used twice", key)
		}
		seen[key] = true
	}
	for key, name := range eventsv1.VariantKeys {
		if eventsv1.Keys[name] == "" {
			t.Errorf("variant key %s names %s, which has no routing key", key, name)
		}
		if !regexp.MustCompile(`(?m)^// ` + name + `: .*` + regexp.QuoteMeta(key)).MatchString(string(src)) {
			t.Errorf("variant key %s is not documented on %s's line in events.proto", key, name)
		}
		if seen[key] {
			t.Errorf("routing key %s is used twice", key)
		}
		seen[key] = true
	}
	queues := map[string]bool{}
	for _, q := range eventsv1.Queues {
		if queues[q] || !regexp.MustCompile(`^[a-z]+\.[a-z]+$`).MatchString(q) {
			t.Errorf("queue %q is repeated or not <process>.<purpose>", q)
		}
		queues[q] = true
	}
}
