// Package openapi embeds the OpenAPI (v2) description generated from the
// printfleet protos, merged across the orders, catalog and pricing services.
package openapi

import _ "embed"

// JSON is the merged, generated OpenAPI document.
//
//go:embed printfleet.swagger.json
var JSON []byte
