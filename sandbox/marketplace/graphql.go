package marketplace

// A small GraphQL reader for the Shopify stand-in. It is not a general GraphQL
// server: it lexes and parses one operation (variables, arguments, aliases, nested
// selections), checks the selection against the few types the stand-in serves,
// coerces variables, and projects resolved objects onto the selection. Fragments and
// directives are refused rather than misread.
//
// One file per stage: graphql_lex.go, graphql_parse.go, graphql_validate.go
// (variables, selection, cost) and graphql_exec.go (projection), with the types it
// serves in graphql_schema.go. This file holds the errors every stage returns.

// gqlError is a GraphQL error as it appears in the "errors" list.
type gqlError struct {
	Message    string         `json:"message"`
	Locations  []gqlLocation  `json:"locations,omitempty"`
	Path       []any          `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

type gqlLocation struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

func (e *gqlError) Error() string { return e.Message }

func location(src string, pos int) gqlLocation {
	line, col := 1, 1
	for i := 0; i < pos && i < len(src); i++ {
		if src[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return gqlLocation{Line: line, Column: col}
}

func syntaxErr(src string, pos int, msg string) *gqlError {
	return &gqlError{Message: "Parse error: " + msg, Locations: []gqlLocation{location(src, pos)},
		Extensions: map[string]any{"code": "PARSE_ERROR"}}
}
