package server

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/printfleet/printfleet/platform/principal"
	"github.com/printfleet/printfleet/platform/run"
	"github.com/printfleet/printfleet/services/pricing/internal/app"
	"github.com/printfleet/printfleet/services/pricing/internal/demo"
	"github.com/printfleet/printfleet/services/pricing/internal/domain"
)

// ServeSeedDemo is the pricing-seed-demo job: it loads the demo price lists
// (idempotent) as demo.Seeder and exits.
func ServeSeedDemo(ctx context.Context, p *run.Process) error {
	svc, closeDB, err := openJob(ctx, p)
	if err != nil {
		return err
	}
	defer closeDB()
	sum, err := demo.Seed(ctx, svc)
	if err != nil {
		return err
	}
	p.Log.Info("demo price data seeded", "changed", sum, "namespace", demo.Namespace.String())
	return nil
}

// ServeCoupons is the pricing-coupons job: it prints every coupon with its
// usage counter on stdout and exits.
func ServeCoupons(ctx context.Context, p *run.Process) error {
	svc, closeDB, err := openJob(ctx, p)
	if err != nil {
		return err
	}
	defer closeDB()
	return PrintCoupons(ctx, svc, os.Stdout)
}

// couponsReader is the caller the pricing-coupons job lists coupons as.
var couponsReader = principal.Principal{Subject: "service:pricing-coupons", Roles: []string{principal.RoleAdmin}}

// PrintCoupons writes the coupon table to w.
func PrintCoupons(ctx context.Context, svc *app.Service, w io.Writer) error {
	cs, err := svc.ListCoupons(ctx, couponsReader)
	if err != nil {
		return fmt.Errorf("list coupons: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CODE\tKIND\tVALUE\tVALID FROM\tVALID UNTIL\tUSED\tLIMIT\tPER CUSTOMER")
	for _, c := range cs {
		value := fmt.Sprintf("%d bp", c.PercentBP)
		if c.Kind == domain.CouponFixed {
			value = fmt.Sprintf("%d %s", c.AmountOff.Amount, c.AmountOff.Currency.Code)
		}
		limit := "unlimited"
		if c.UsageLimit > 0 {
			limit = fmt.Sprint(c.UsageLimit)
		}
		perCustomer := "unlimited"
		if c.PerCustomerLimit > 0 {
			perCustomer = fmt.Sprint(c.PerCustomerLimit)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", c.Code, c.Kind, value,
			c.ValidFrom.Format(time.RFC3339), c.ValidUntil.Format(time.RFC3339), c.Used, limit, perCustomer)
	}
	return tw.Flush()
}
