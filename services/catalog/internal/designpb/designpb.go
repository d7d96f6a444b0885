// Package designpb converts designs from the domain to the catalog.v1
// proto: one conversion for GetDesign's answer (grpcapi) and the design
// notices for sellers' webhooks (events).
package designpb

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	catalogv1 "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	"github.com/printfleet/printfleet/services/catalog/internal/domain"
)

var designStatus = map[domain.DesignStatus]catalogv1.DesignStatus{
	domain.DesignPendingUpload: catalogv1.DesignStatus_DESIGN_STATUS_PENDING_UPLOAD,
	domain.DesignProcessing:    catalogv1.DesignStatus_DESIGN_STATUS_PROCESSING,
	domain.DesignReady:         catalogv1.DesignStatus_DESIGN_STATUS_READY,
	domain.DesignRejected:      catalogv1.DesignStatus_DESIGN_STATUS_REJECTED,
}

var dpiVerdict = map[string]catalogv1.DpiVerdict{
	"ok": catalogv1.DpiVerdict_DPI_VERDICT_OK, "warn": catalogv1.DpiVerdict_DPI_VERDICT_WARN,
	"reject": catalogv1.DpiVerdict_DPI_VERDICT_REJECT,
}

// Design converts a design with the presigned thumbnail and preview URLs
// GetDesign adds (empty: none, as in a notice, where they would expire).
func Design(d *domain.Design, thumbnailURL, previewURL string) *catalogv1.Design {
	out := &catalogv1.Design{Id: d.ID, OwnerId: d.OwnerID, Status: designStatus[d.Status], Filename: d.Filename,
		ContentType: d.ContentType, SizeBytes: d.SizeBytes, ThumbnailUrl: thumbnailURL, PreviewUrl: previewURL,
		ObjectKey: d.ObjectKey, ThumbnailKey: d.ThumbnailKey, PreviewKey: d.PreviewKey, MasterKey: d.MasterKey}
	if !d.CreatedAt.IsZero() {
		out.CreatedAt, out.UpdatedAt = timestamppb.New(d.CreatedAt), timestamppb.New(d.UpdatedAt)
	}
	if r := d.Report; r != nil {
		out.Report = &catalogv1.DesignReport{Format: r.Format, WidthPx: r.WidthPx, HeightPx: r.HeightPx, HasAlpha: r.HasAlpha,
			Problems: r.Problems}
		for _, p := range r.Placements {
			out.Report.Placements = append(out.Report.Placements, &catalogv1.PlacementCheck{PlacementId: p.PlacementID,
				PlacementName: p.Name, EffectiveDpi: p.EffectiveDPI, Verdict: dpiVerdict[p.Verdict]})
		}
	}
	return out
}
