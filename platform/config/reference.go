package config

import (
	"bytes"
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// Var is one environment variable a configuration struct reads.
type Var struct {
	// Name is the full variable name, PRINTFLEET_ prefix included.
	Name string
	// Default is the value used when the variable is unset: the tag's
	// default, or the value already in the struct passed to Reference (the
	// loader keeps values that are set). Empty when there is none.
	Default  string
	Secret   bool
	Required bool
	// Type is the Go type of the field, e.g. time.Duration.
	Type string
	// Description is the field's doc comment, once Describe has read it.
	Description string
	// Package, Struct and Field name the field that reads the variable.
	Package, Struct, Field string
}

var (
	secretType   = reflect.TypeFor[Secret]()
	durationType = reflect.TypeFor[time.Duration]()
	decoderTypes = []reflect.Type{reflect.TypeFor[envconfig.Decoder](), reflect.TypeFor[envconfig.DecoderCtx](), reflect.TypeFor[encoding.TextUnmarshaler](), reflect.TypeFor[json.Unmarshaler](), reflect.TypeFor[encoding.BinaryUnmarshaler]()}
)

// Reference lists the variables cfg (a struct or a pointer to one) is loaded
// from by Load, in field order, walking nested and embedded structs with
// their prefixes the way the loader does. Fields already set in cfg report
// that value as their default. It panics if cfg is not a struct.
func Reference(cfg any) []Var {
	v := reflect.ValueOf(cfg)
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		panic(fmt.Sprintf("config.Reference: %T is not a struct or a pointer to one", cfg))
	}
	var out []Var
	walk(v, Prefix, false, &out)
	seen := map[string]bool{}
	uniq := out[:0]
	for _, x := range out {
		if !seen[x.Name] {
			seen[x.Name] = true
			uniq = append(uniq, x)
		}
	}
	return uniq
}

func walk(v reflect.Value, prefix string, required bool, out *[]Var) {
	t := v.Type()
	for i := range t.NumField() {
		tf := t.Field(i)
		if !tf.IsExported() {
			continue
		}
		tag, hasTag := tf.Tag.Lookup("env")
		key, opts := parseTag(tag)
		fv := v.Field(i)
		ft := tf.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
			if fv.IsNil() {
				fv = reflect.Zero(ft)
			} else {
				fv = fv.Elem()
			}
		}
		req := required || opts.required
		if ft.Kind() == reflect.Struct && !(key != "" && isDecoder(ft)) {
			walk(fv, prefix+opts.prefix, req, out)
			continue
		}
		if !hasTag || key == "" {
			continue
		}
		def := opts.def
		if !fv.IsZero() {
			def = format(fv)
		}
		*out = append(*out, Var{
			Name: prefix + key, Default: def, Secret: ft == secretType, Required: req,
			Type: typeName(ft), Package: t.PkgPath(), Struct: t.Name(), Field: tf.Name,
		})
	}
}

type tagOptions struct {
	required bool
	prefix   string
	def      string
}

// parseTag reads `env:"KEY, opt, default=..."` as go-envconfig does: the
// default takes the rest of the tag, commas included.
func parseTag(tag string) (string, tagOptions) {
	var o tagOptions
	key, rest, found := strings.Cut(tag, ",")
	key = strings.TrimSpace(key)
	for found {
		var seg string
		seg, rest, found = strings.Cut(rest, ",")
		seg = strings.TrimLeft(seg, " ")
		lower := strings.ToLower(seg)
		switch {
		case strings.HasPrefix(lower, "default="):
			o.def = seg[len("default="):]
			if found {
				o.def += "," + rest
			}
			found = false
		case strings.TrimSpace(lower) == "required":
			o.required = true
		case strings.HasPrefix(lower, "prefix="):
			o.prefix = seg[len("prefix="):]
		}
	}
	return key, o
}

func isDecoder(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	for _, d := range decoderTypes {
		if t.Implements(d) || pt.Implements(d) {
			return true
		}
	}
	return false
}

func format(v reflect.Value) string {
	switch {
	case v.Type() == secretType:
		return v.String()
	case v.Type() == durationType:
		return time.Duration(v.Int()).String()
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = v.Index(i).String()
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v.Interface())
}

// typeName is how the docs name a field's type: duration, string, int,
// bool, "list of string"; types with their own decoding keep their Go name.
func typeName(t reflect.Type) string {
	switch {
	case t == secretType:
		return "string"
	case t == durationType:
		return "duration"
	case isDecoder(t):
		return t.String()
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem())
	case t.Kind() == reflect.Map:
		return "map"
	}
	return t.Kind().String()
}

// Describe fills the Description of vars from the doc (or line) comments of
// the fields that read them. It locates their packages' sources with
// `go list`, so it runs where the sources are: in tests and generators.
func Describe(ctx context.Context, vars []Var) error {
	pkgs := map[string]bool{}
	for _, v := range vars {
		// External test packages (…_test) have no importable source.
		if v.Package != "" && !strings.HasSuffix(v.Package, "_test") {
			pkgs[v.Package] = true
		}
	}
	if len(pkgs) == 0 {
		return nil
	}
	paths := make([]string, 0, len(pkgs))
	for p := range pkgs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	cmd := exec.CommandContext(ctx, "go", append([]string{"list", "-f", "{{.ImportPath}}\t{{.Dir}}"}, paths...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("config.Describe: go list: %w: %s", err, stderr.Bytes())
	}
	docs := map[string]string{} // package.Struct.Field → comment
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, dir, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		if err := fieldDocs(path, dir, docs); err != nil {
			return err
		}
	}
	for i, v := range vars {
		vars[i].Description = docs[v.Package+"."+v.Struct+"."+v.Field]
	}
	return nil
}

// fieldDocs reads the comments of every struct field declared in dir.
func fieldDocs(pkg, dir string, docs map[string]string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return err
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("config.Describe: %w", err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			// A comment that names the fields after it ("RetryBase and
			// RetryMax shape the backoff") describes them too.
			var last string
			for _, field := range st.Fields.List {
				text := commentText(field.Doc)
				if text == "" {
					text = commentText(field.Comment)
				}
				for _, id := range field.Names {
					switch {
					case text != "":
						docs[pkg+"."+ts.Name.Name+"."+id.Name] = text
					case last != "" && mentions(last, id.Name):
						docs[pkg+"."+ts.Name.Name+"."+id.Name] = last
					}
				}
				if text != "" {
					last = text
				}
			}
			return true
		})
	}
	return nil
}

// mentions reports whether text names the identifier as a word.
func mentions(text, ident string) bool {
	for _, w := range strings.FieldsFunc(text, func(r rune) bool {
		return !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) {
		if w == ident {
			return true
		}
	}
	return false
}

func commentText(g *ast.CommentGroup) string {
	if g == nil {
		return ""
	}
	return strings.Join(strings.Fields(g.Text()), " ")
}

// Markdown renders vars as a Markdown page titled title: one table row per
// variable with its type, default, whether it is a secret (a secret's
// default is a development value, to be replaced in production) and its
// description.
func Markdown(title string, vars []Var) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", title)
	b.WriteString("| Variable | Type | Default | Secret | Description |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, v := range vars {
		def := "—"
		switch {
		case v.Required && v.Default == "":
			def = "**required**"
		case v.Secret && v.Default != "":
			def = "`" + strings.ReplaceAll(v.Default, "|", `\|`) + "` (development only)"
		case v.Default != "":
			def = "`" + strings.ReplaceAll(v.Default, "|", `\|`) + "`"
		}
		secret := "no"
		if v.Secret {
			secret = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", v.Name, v.Type, def, secret, cell(v.Description))
	}
	return b.String()
}

// cell makes text fit in one table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}
