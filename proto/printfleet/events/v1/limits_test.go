package eventsv1_test

import (
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

// The catalog's upload rule (CreateDesignRequest.size_bytes) repeats
// MaxDesignBytes: one limit for what is stored and what is processed.
func TestDesignSizeRuleIsMaxDesignBytes(t *testing.T) {
	t.Parallel()
	fd := (&catalogv1.CreateDesignRequest{}).ProtoReflect().Descriptor().Fields().ByName("size_bytes")
	rules, _ := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
	if lte := rules.GetInt64().GetLte(); lte != eventsv1.MaxDesignBytes {
		t.Fatalf("CreateDesignRequest.size_bytes lte %d, want MaxDesignBytes %d", lte, int64(eventsv1.MaxDesignBytes))
	}
}
