package server

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"
)

// A design may be as large as the images worker downloads
// (eventsv1.MaxDesignBytes) and no larger: refused at the edge (proto rule)
// and by the use case itself, so no stored design is bound to be rejected.
func TestDesignUploadLimitIsTheImagesWorkers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.app, partAPI)
	alice := e.as("alice")
	created, err := e.client.CreateDesign(alice, &catalogv1.CreateDesignRequest{Filename: "big.png", ContentType: "image/png", SizeBytes: eventsv1.MaxDesignBytes})
	if err != nil {
		t.Fatalf("a design of MaxDesignBytes: %v", err)
	}
	if created.GetDesign().GetSizeBytes() != eventsv1.MaxDesignBytes {
		t.Fatalf("declared size %d", created.GetDesign().GetSizeBytes())
	}
	_, err = e.client.CreateDesign(alice, &catalogv1.CreateDesignRequest{Filename: "big.png", ContentType: "image/png", SizeBytes: eventsv1.MaxDesignBytes + 1})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(fieldsOf(err), "size_bytes") {
		t.Fatalf("one byte over: %v, want INVALID_ARGUMENT naming size_bytes", err)
	}
	t.Logf("one byte over at the edge: %s", fieldsOf(err))
	_, _, err = e.app.Designs.Create(context.Background(), principal.Principal{Subject: "alice", Roles: []string{principal.RoleUser}},
		"big.png", "image/png", eventsv1.MaxDesignBytes+1)
	if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "64 MiB") {
		t.Fatalf("use case, one byte over: %v, want an invalid size_bytes naming 64 MiB", err)
	}
	t.Logf("one byte over in the use case: %v", err)
}
