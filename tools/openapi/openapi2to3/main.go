// Command openapi2to3 converts the gateway's OpenAPI 2.0 document into
// OpenAPI 3.0 with kin-openapi's openapi2conv, for generators that read 3.0
// only (oapi-codegen).
//
//	openapi2to3 -in printfleet.swagger.json -out openapi3.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
)

func main() {
	in := flag.String("in", "", "OpenAPI 2.0 (swagger) JSON document to read")
	out := flag.String("out", "", "OpenAPI 3.0 JSON document to write")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "openapi2to3:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	if in == "" || out == "" {
		return fmt.Errorf("-in and -out are required")
	}
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var doc2 openapi2.T
	if err := json.Unmarshal(b, &doc2); err != nil {
		return fmt.Errorf("read %s: %w", in, err)
	}
	doc3, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return fmt.Errorf("convert %s: %w", in, err)
	}
	b, err = json.MarshalIndent(doc3, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(b, '\n'), 0o644)
}
