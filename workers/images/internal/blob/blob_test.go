package blob_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/printfleet/printfleet/workers/images/internal/app"
	"github.com/printfleet/printfleet/workers/images/internal/blob"
	"github.com/printfleet/printfleet/workers/images/internal/fixture"
	"github.com/printfleet/printfleet/workers/images/internal/testenv"
)

func TestS3StoreAgainstRealServer(t *testing.T) {
	t.Parallel()
	env := testenv.NewS3(t)
	st := blob.New(env.Client)
	ctx := context.Background()
	body := fixture.PNG(20, 20, true)
	if err := st.Put(ctx, env.Renders, "a/b.png", body, "image/png"); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, env.Renders, "a/b.png", int64(len(body)))
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("Get = %d bytes, %v; want the %d bytes put", len(got), err, len(body))
	}
	if ct := env.Stat(t, env.Renders, "a/b.png").ContentType; ct != "image/png" {
		t.Errorf("content type %q", ct)
	}
	if _, err := st.Get(ctx, env.Renders, "a/b.png", int64(len(body))-1); !errors.Is(err, app.ErrTooLarge) {
		t.Errorf("Get over the cap = %v, want ErrTooLarge", err)
	}
	if _, err := st.Get(ctx, env.Renders, "a/none.png", 1<<20); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("Get of a missing key = %v, want ErrNotFound", err)
	}
	if _, err := st.Get(ctx, "t-no-such-bucket-"+uuid.NewString()[:8], "k", 1<<20); err == nil || errors.Is(err, app.ErrNotFound) {
		t.Errorf("Get from a missing bucket = %v, want an infrastructure error (retried), not ErrNotFound", err)
	}
}
