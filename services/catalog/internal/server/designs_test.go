package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	eventsv1 "github.com/printfleet/printfleet/proto/printfleet/events/v1"

	"github.com/printfleet/printfleet/platform/amqp"
)

// postUpload sends body to a presigned POST with fields (overridden by
// override) and returns the HTTP status and the response text.
func postUpload(t *testing.T, url string, fields map[string]string, override map[string]string, body []byte) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		if o, ok := override[k]; ok {
			v = o
		}
		if err := w.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := w.CreateFormFile("file", "design.png")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(body)
	w.Close()
	req, err := http.NewRequest(http.MethodPost, url, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(text)
}

func TestDesignUploadIsCappedAndProcessed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(e.app, partAPI, partRelay, partDesigns)
	ctx := context.Background()
	active, err := e.app.Catalog.CreateProduct(ctx, adminCaller, domainProduct(5))
	if err != nil {
		t.Fatal(err)
	}
	inactive := domainProduct(5)
	inactive.Active = false
	if _, err := e.app.Catalog.CreateProduct(ctx, adminCaller, inactive); err != nil {
		t.Fatal(err)
	}
	uploaded := make(chan *eventsv1.DesignUploaded, 4)
	q := e.broker.Queue("images-designs")
	if err := e.conn.DeclareQueue(ctx, q, eventsv1.KeyDesignUploaded); err != nil {
		t.Fatal(err)
	}
	cctx, stopConsume := context.WithCancel(ctx)
	defer stopConsume()
	go amqp.Consume(cctx, e.conn, amqp.ConsumerConfig{Queue: q, Handler: func(_ context.Context, d amqp.Delivery) error {
		var m eventsv1.DesignUploaded
		if err := proto.Unmarshal(d.Body, &m); err != nil {
			return amqp.Permanent(err)
		}
		uploaded <- &m
		return nil
	}})

	alice, bob := e.as("alice"), e.as("bob")
	const size = 1000
	created, err := e.client.CreateDesign(alice, &catalogv1.CreateDesignRequest{Filename: "art.png", ContentType: "image/png", SizeBytes: size})
	if err != nil {
		t.Fatal(err)
	}
	d := created.GetDesign()
	if created.GetUploadMethod() != "POST" || created.GetUploadHeaders()["policy"] == "" ||
		created.GetUploadHeaders()["Content-Type"] != "image/png" || d.GetStatus() != catalogv1.DesignStatus_DESIGN_STATUS_PENDING_UPLOAD ||
		!created.GetUploadExpiresAt().AsTime().After(time.Now()) {
		t.Fatalf("create design = %v", created)
	}
	if _, err := e.client.ProcessDesign(alice, &catalogv1.ProcessDesignRequest{DesignId: d.GetId()}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("process before upload: %v, want FAILED_PRECONDITION", err)
	}

	url, fields := created.GetUploadUrl(), created.GetUploadHeaders()
	png := bytes.Repeat([]byte{0x89}, size)
	for _, c := range []struct {
		name     string
		override map[string]string
		body     []byte
	}{
		{"one byte over the cap", nil, append(bytes.Clone(png), 0)},
		{"far over the cap", nil, bytes.Repeat([]byte{1}, 64<<10)},
		{"another content type", map[string]string{"Content-Type": "text/html"}, png},
		{"another key", map[string]string{"key": e.prefix + "/elsewhere"}, png},
	} {
		code, text := postUpload(t, url, fields, c.override, c.body)
		if code < 400 {
			t.Fatalf("%s: status %d, want a refusal (%s)", c.name, code, text)
		}
		s3code, _, _ := strings.Cut(text[strings.Index(text, "<Code>")+1:], "</Code>")
		t.Logf("%s: refused with %d %s", c.name, code, strings.TrimPrefix(s3code, "Code>"))
		if _, err := e.s3.StatObject(ctx, "printfleet-designs", d.GetObjectKey(), minio.StatObjectOptions{}); minio.ToErrorResponse(err).StatusCode != http.StatusNotFound {
			t.Fatalf("%s: object stored anyway (stat: %v)", c.name, err)
		}
	}
	if code, text := postUpload(t, url, fields, nil, png); code/100 != 2 {
		t.Fatalf("upload at the cap: status %d: %s", code, text)
	}

	if _, err := e.client.ProcessDesign(bob, &catalogv1.ProcessDesignRequest{DesignId: d.GetId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("process by another user: %v, want NOT_FOUND", err)
	}
	if _, err := e.client.GetDesign(bob, &catalogv1.GetDesignRequest{DesignId: d.GetId()}); status.Code(err) != codes.NotFound {
		t.Fatalf("get by another user: %v, want NOT_FOUND", err)
	}
	for range 2 { // the second call changes nothing
		got, err := e.client.ProcessDesign(alice, &catalogv1.ProcessDesignRequest{DesignId: d.GetId()})
		if err != nil || got.GetStatus() != catalogv1.DesignStatus_DESIGN_STATUS_PROCESSING || got.GetSizeBytes() != size {
			t.Fatalf("process = %v, %v", got, err)
		}
	}
	var ev *eventsv1.DesignUploaded
	select {
	case ev = <-uploaded:
	case <-time.After(10 * time.Second):
		t.Fatal("no DesignUploaded published")
	}
	if ev.GetDesignId() != d.GetId() || ev.GetOwnerId() != "alice" || ev.GetObjectKey() != d.GetObjectKey() ||
		ev.GetBucket() != "printfleet-designs" || len(ev.GetPlacements()) != 1 ||
		ev.GetPlacements()[0].GetPlacementId() != active.Placements[0].ID || ev.GetPlacements()[0].GetMinDpi() != 200 {
		t.Fatalf("DesignUploaded = %v (want only the active product's placement)", ev)
	}
	if n := e.events(eventsv1.KeyDesignUploaded); n != 1 {
		t.Fatalf("DesignUploaded events = %d, want 1", n)
	}

	// The image worker's verdict, delivered twice.
	thumb := e.prefix + "/renders/" + d.GetId() + "/thumb.webp"
	body, _ := proto.Marshal(&eventsv1.DesignProcessed{DesignId: d.GetId(), Verdict: eventsv1.DesignVerdict_DESIGN_VERDICT_READY,
		Format: "png", WidthPx: 4500, HeightPx: 5400, ThumbnailKey: thumb, PreviewKey: e.prefix + "/renders/" + d.GetId() + "/preview.webp",
		MasterKey: e.prefix + "/m", Placements: []*eventsv1.PlacementVerdict{{PlacementId: active.Placements[0].ID, Name: "wrap", EffectiveDpi: 529, Verdict: "ok"}}})
	msg := amqp.Message{ID: uuid.NewString(), Type: eventsv1.KeyDesignProcessed, Body: body}
	e.publish(msg, msg)
	e.eventually(10*time.Second, "design ready", func() (bool, string) {
		got, err := e.client.GetDesign(alice, &catalogv1.GetDesignRequest{DesignId: d.GetId()})
		if err != nil {
			return false, err.Error()
		}
		ok := got.GetStatus() == catalogv1.DesignStatus_DESIGN_STATUS_READY && strings.Contains(got.GetThumbnailUrl(), "X-Amz-Signature") &&
			strings.Contains(got.GetThumbnailUrl(), "thumb.webp") && got.GetPreviewUrl() != "" &&
			got.GetReport().GetWidthPx() == 4500 && got.GetReport().GetPlacements()[0].GetVerdict() == catalogv1.DpiVerdict_DPI_VERDICT_OK
		return ok, fmt.Sprint(got)
	})
	// The verdict, delivered twice, is announced to the owner's webhooks once.
	if n := e.events(eventsv1.KeyDesignNotice); n != 1 {
		t.Fatalf("DesignNotice events = %d, want 1", n)
	}
}
