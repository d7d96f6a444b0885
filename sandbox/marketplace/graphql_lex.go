package marketplace

// Lexing: the document as a list of tokens. Commas are insignificant, as in
// the GraphQL grammar; strings are unescaped here so the parser sees plain values.

import (
	"encoding/json"
	"fmt"
	"strings"
)

type tokKind int

const (
	tEOF tokKind = iota
	tPunct
	tName
	tInt
	tFloat
	tString
)

type token struct {
	kind tokKind
	val  string
	pos  int
}

func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' && src[i] != '\r' {
				i++
			}
		case strings.HasPrefix(src[i:], "\ufeff"):
			i += len("\ufeff")
		case strings.HasPrefix(src[i:], "..."):
			toks = append(toks, token{tPunct, "...", i})
			i += 3
		case strings.IndexByte("!$&():=@[]{}|", c) >= 0:
			toks = append(toks, token{tPunct, string(c), i})
			i++
		case c == '_' || isLetter(c):
			j := i + 1
			for j < len(src) && (src[j] == '_' || isLetter(src[j]) || isDigit(src[j])) {
				j++
			}
			toks = append(toks, token{tName, src[i:j], i})
			i = j
		case c == '-' || isDigit(c):
			j := i
			if src[j] == '-' {
				j++
			}
			start := j
			for j < len(src) && isDigit(src[j]) {
				j++
			}
			if j == start || (src[start] == '0' && j-start > 1) {
				return nil, syntaxErr(src, i, "invalid number")
			}
			kind := tInt
			if j < len(src) && src[j] == '.' {
				kind = tFloat
				j++
				k := j
				for j < len(src) && isDigit(src[j]) {
					j++
				}
				if j == k {
					return nil, syntaxErr(src, i, "invalid number")
				}
			}
			if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
				kind = tFloat
				j++
				if j < len(src) && (src[j] == '+' || src[j] == '-') {
					j++
				}
				k := j
				for j < len(src) && isDigit(src[j]) {
					j++
				}
				if j == k {
					return nil, syntaxErr(src, i, "invalid number")
				}
			}
			if j < len(src) && (src[j] == '_' || isLetter(src[j]) || src[j] == '.') {
				return nil, syntaxErr(src, i, "invalid number")
			}
			toks = append(toks, token{kind, src[i:j], i})
			i = j
		case strings.HasPrefix(src[i:], `"""`):
			end := strings.Index(src[i+3:], `"""`)
			if end < 0 {
				return nil, syntaxErr(src, i, "unterminated string")
			}
			toks = append(toks, token{tString, src[i+3 : i+3+end], i})
			i += 6 + end
		case c == '"':
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				if j < len(src) && (src[j] == '\n' || src[j] == '\r') {
					return nil, syntaxErr(src, i, "unterminated string")
				}
				j++
			}
			if j >= len(src) {
				return nil, syntaxErr(src, i, "unterminated string")
			}
			var s string
			if err := json.Unmarshal([]byte(src[i:j+1]), &s); err != nil {
				return nil, syntaxErr(src, i, "invalid string")
			}
			toks = append(toks, token{tString, s, i})
			i = j + 1
		default:
			return nil, syntaxErr(src, i, fmt.Sprintf("unexpected character %q", c))
		}
	}
	return append(toks, token{tEOF, "", len(src)}), nil
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
