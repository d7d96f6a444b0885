// Package projfmt is the format of the catalog's product projection in
// Redis, a contract between the catalog, which writes it, and the gateway,
// which serves a product's public view from it without calling the catalog.
//
// One hash per product at Key(prefix, id) with the fields
//
//	v    the product version the hash holds
//	doc  the catalog's own JSON of the public view
//	api  the printfleet.catalog.v1.Product wire encoding of the answer
//	     GetProduct gives any caller but an admin (absent in hashes written
//	     before it existed)
//	missing  "1" in a hash that holds nothing else: the catalog found no
//	     such product in PostgreSQL moments ago; the hash expires within
//	     seconds, and a write of the product's view removes the field and
//	     the expiry. Readers treat it as a miss (the gateway passes the
//	     read on; the catalog answers NOT_FOUND without PostgreSQL).
//
// A product whose api answer says active=false is not shown (NOT_FOUND).
package projfmt

// Key is the hash of product id under the catalog's Redis prefix (the prefix
// is a cluster hash tag).
func Key(prefix, id string) string { return "{" + prefix + "}:product:" + id }

// DefaultPrefix is the catalog's default prefix.
const DefaultPrefix = "catalog"

// Hash fields.
const (
	FieldVersion = "v"
	FieldDoc     = "doc"
	FieldAPI     = "api"
	FieldMissing = "missing"
)
