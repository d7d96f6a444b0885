// Command openapi completes the OpenAPI document that buf generates (see
// services/gateway/internal/openapigen) and renders the document the gateway
// publishes at /openapi.json, from which the API client is generated.
// `make generate` runs it after buf:
//
//	openapi -doc proto/openapi/printfleet.swagger.json -published build/openapi.json
package main

import (
	"flag"
	"fmt"
	"os"

	"google.golang.org/protobuf/reflect/protoregistry"

	// The services whose protos the document describes, registered.
	_ "github.com/printfleet/printfleet/proto/printfleet/catalog/v1"
	_ "github.com/printfleet/printfleet/proto/printfleet/orders/v1"
	_ "github.com/printfleet/printfleet/proto/printfleet/pricing/v1"
	_ "github.com/printfleet/printfleet/proto/printfleet/webhooks/v1"

	"github.com/printfleet/printfleet/services/gateway/internal/apidocs"
	"github.com/printfleet/printfleet/services/gateway/internal/gateway"
	"github.com/printfleet/printfleet/services/gateway/internal/openapigen"
	"github.com/printfleet/printfleet/services/gateway/internal/policy"
)

func main() {
	doc := flag.String("doc", "", "the generated swagger JSON, completed in place")
	published := flag.String("published", "", "where to write the published document (optional)")
	flag.Parse()
	if err := run(*doc, *published); err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
}

func run(doc, published string) error {
	if doc == "" {
		return fmt.Errorf("-doc is required")
	}
	raw, err := os.ReadFile(doc)
	if err != nil {
		return err
	}
	out, err := openapigen.Enrich(raw, protoregistry.GlobalFiles, gateway.CreatedMethods())
	if err != nil {
		return err
	}
	if err := os.WriteFile(doc, append(out, '\n'), 0o644); err != nil {
		return err
	}
	if published == "" {
		return nil
	}
	pub, err := apidocs.Render(out, policy.Routes)
	if err != nil {
		return err
	}
	return os.WriteFile(published, append(pub, '\n'), 0o644)
}
