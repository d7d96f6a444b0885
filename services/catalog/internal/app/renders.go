package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/printfleet/printfleet/platform/errs"
	"github.com/printfleet/printfleet/platform/principal"
)

// RenderPrefixes are the key prefixes the images worker writes in the
// renders bucket (workers/images/internal/domain: KeysForItem puts an order
// item's print file and mockup under orders/, KeysForDesign a design's
// master, thumbnail, preview and report under designs/). Nothing else in
// the bucket is the console's to link to.
var RenderPrefixes = []string{"orders/", "designs/"}

// MaxRenderLinks is the most keys one SignRenderLinks call names.
const MaxRenderLinks = 100

// SignRenderLinks returns a presigned GET link per key, in order, valid
// for RenderLinkTTL, and when they expire (admin or support). A key outside
// RenderPrefixes, or with a ".." segment, is INVALID_ARGUMENT naming its
// index; nothing is signed then.
func (d *Designs) SignRenderLinks(ctx context.Context, caller principal.Principal, keys []string) ([]string, time.Time, error) {
	if err := caller.RequireReader(); err != nil {
		return nil, time.Time{}, err
	}
	switch {
	case len(keys) == 0:
		return nil, time.Time{}, errs.Field("keys", "at least one key is required")
	case len(keys) > MaxRenderLinks:
		return nil, time.Time{}, errs.Field("keys", fmt.Sprintf("at most %d keys are allowed", MaxRenderLinks))
	}
	for i, k := range keys {
		if err := checkRenderKey(k); err != nil {
			return nil, time.Time{}, errs.Field(fmt.Sprintf("keys[%d]", i), err.Error())
		}
	}
	expires := d.now().Add(d.cfg.RenderLinkTTL).UTC().Truncate(time.Second)
	urls := make([]string, len(keys))
	for i, k := range keys {
		u, err := d.blobs.PresignGet(ctx, d.cfg.RendersBucket, k, d.cfg.RenderLinkTTL)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("presign %s: %w", k, err)
		}
		urls[i] = u
	}
	return urls, expires, nil
}

// checkRenderKey refuses a key the images worker never writes.
func checkRenderKey(k string) error {
	switch {
	case strings.Contains(k, ".."):
		return fmt.Errorf("must not contain %q", "..")
	case len(k) > 1024:
		return fmt.Errorf("must be at most 1024 bytes")
	}
	for _, p := range RenderPrefixes {
		if rest, ok := strings.CutPrefix(k, p); ok && rest != "" && !strings.HasPrefix(rest, "/") {
			return nil
		}
	}
	return fmt.Errorf("must be a rendered file under %s", strings.Join(RenderPrefixes, " or "))
}
