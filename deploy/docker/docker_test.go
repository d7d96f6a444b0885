package docker

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// stage is one FROM … up to the next FROM.
type stage struct {
	base, name string
	insts      []*parser.Node
}

type dockerfile struct {
	path   string
	raw    []byte
	args   map[string]string // global ARG defaults (before the first FROM)
	stages []stage
}

func parse(t *testing.T, path string) dockerfile {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := parser.Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, w := range res.Warnings {
		t.Errorf("%s: parser warning: %s", path, w.Short)
	}
	d := dockerfile{path: path, raw: raw, args: map[string]string{}}
	for _, n := range res.AST.Children {
		n.Value = strings.ToLower(n.Value) // instructions are case-insensitive
		switch {
		case n.Value == "from":
			args := words(n)
			s := stage{base: args[0]}
			if len(args) == 3 && strings.EqualFold(args[1], "as") {
				s.name = args[2]
			}
			d.stages = append(d.stages, s)
		case len(d.stages) == 0:
			if n.Value == "arg" {
				k, v, _ := strings.Cut(words(n)[0], "=")
				d.args[k] = v
			}
		default:
			last := &d.stages[len(d.stages)-1]
			last.insts = append(last.insts, n)
		}
	}
	return d
}

// words are an instruction's arguments.
func words(n *parser.Node) []string {
	var out []string
	for a := n.Next; a != nil; a = a.Next {
		out = append(out, a.Value)
	}
	return out
}

func (s stage) find(inst string) []*parser.Node {
	var out []*parser.Node
	for _, n := range s.insts {
		if n.Value == inst {
			out = append(out, n)
		}
	}
	return out
}

// env returns the stage's ENV pairs. The parser gives each pair as three
// nodes: name, value, separator.
func (s stage) env() map[string]string {
	m := map[string]string{}
	for _, n := range s.find("env") {
		w := words(n)
		for i := 0; i+1 < len(w); i += 3 {
			m[w[i]] = w[i+1]
		}
	}
	return m
}

// argDefault is the default of the stage's ARG name ("" when none).
func (s stage) argDefault(name string) string {
	for _, n := range s.find("arg") {
		if k, v, _ := strings.Cut(words(n)[0], "="); k == name {
			return v
		}
	}
	return ""
}

func (s stage) runs() string {
	var b strings.Builder
	for _, n := range s.find("run") {
		b.WriteString(strings.Join(words(n), " "))
		b.WriteString("\n")
	}
	return b.String()
}

func TestDockerfiles(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file      string
		final     string // the runtime base, exactly
		cgo       string
		cmd       []string // the default command; nil: none
		runtimeOK func(t *testing.T, s stage)
	}{
		{
			file: "Dockerfile", final: "gcr.io/distroless/static-debian12:nonroot", cgo: "0",
			runtimeOK: func(t *testing.T, s stage) {
				if r := s.find("run"); len(r) > 0 {
					t.Errorf("the distroless stage has no shell; RUN at line %d", r[0].StartLine)
				}
			},
		},
		{
			file: "Dockerfile.images", final: "debian:12-slim", cgo: "1",
			// debian's CMD is bash; the worker replaces it.
			cmd: []string{"/usr/local/bin/images"},
			runtimeOK: func(t *testing.T, s stage) {
				runs := s.runs()
				if !regexp.MustCompile(`\blibvips42\b`).MatchString(runs) {
					t.Errorf("runtime stage does not install libvips42: %q", runs)
				}
				if strings.Contains(runs, "-dev") {
					t.Errorf("runtime stage installs development packages: %q", runs)
				}
				aptHygiene(t, runs)
				if !strings.Contains(runs, "useradd") {
					t.Error("runtime stage creates no unprivileged user")
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			d := parse(t, tc.file)

			if name, _, _, ok := parser.DetectSyntax(d.raw); !ok || name != "docker/dockerfile:1" {
				t.Errorf("syntax directive = %q, want docker/dockerfile:1 (cache mounts need it)", name)
			}
			if len(d.stages) < 2 {
				t.Fatalf("%d stages, want a multi-stage build", len(d.stages))
			}
			build, final := d.stages[0], d.stages[len(d.stages)-1]
			if build.name != "build" {
				t.Errorf("first stage is named %q, want build", build.name)
			}
			if !regexp.MustCompile(`^golang:\$\{GO_VERSION\}-bookworm$`).MatchString(build.base) {
				t.Errorf("build base = %q, want golang:${GO_VERSION}-bookworm", build.base)
			}
			checkGoVersion(t, d.args["GO_VERSION"])
			if final.base != tc.final {
				t.Errorf("runtime base = %q, want %q", final.base, tc.final)
			}
			for _, s := range d.stages {
				if !strings.Contains(s.base, ":") || strings.HasSuffix(s.base, ":latest") {
					t.Errorf("base %q is not pinned to a tag", s.base)
				}
			}
			if got := build.env()["CGO_ENABLED"]; got != tc.cgo {
				t.Errorf("build stage CGO_ENABLED = %q, want %q", got, tc.cgo)
			}
			if got := build.env()["GOTOOLCHAIN"]; got != "local" {
				t.Errorf("build stage GOTOOLCHAIN = %q, want local (no toolchain download at build time)", got)
			}
			// Every package named in PACKAGES, each into /out/<name>.
			for _, want := range []string{
				`test -n "${PACKAGES}" ||`,
				`for p in ${PACKAGES}; do set -- "$@" "./$p"; done;`,
				`-o /out/ "$@"`,
			} {
				if !strings.Contains(build.runs(), want) {
					t.Errorf("build stage does not build every ./${PACKAGES} into /out/ (no %q): %q", want, build.runs())
				}
			}
			if tc.cgo == "1" {
				aptHygiene(t, build.runs())
			}

			// The runtime stage: only the binaries, a numeric non-root user,
			// no entrypoint.
			users := final.find("user")
			if len(users) == 0 {
				t.Fatal("the final stage sets no USER")
			}
			user := words(users[len(users)-1])[0]
			uid, _, _ := strings.Cut(user, ":")
			if n, err := strconv.Atoi(uid); err != nil || n == 0 {
				t.Errorf("final USER = %q, want a numeric non-root uid (runAsNonRoot can only verify numbers)", user)
			}
			var binaries bool
			for _, c := range final.find("copy") {
				if !slices.Contains(c.Flags, "--from=build") {
					t.Errorf("line %d: the runtime stage copies from the build context, not the build stage: %s", c.StartLine, c.Original)
				}
				binaries = binaries || slices.Equal(words(c), []string{"/out/", "/usr/local/bin/"})
			}
			if !binaries {
				t.Error("the runtime stage does not copy the binaries: want COPY --from=build /out/ /usr/local/bin/ (the chart's commands run /usr/local/bin/<binary>)")
			}
			// An image holds several binaries: the chart's `command:` (or
			// `docker run <image> <binary>`) picks one, and a fixed ENTRYPOINT
			// would name one of them for every process.
			for _, n := range final.find("entrypoint") {
				t.Errorf("line %d: ENTRYPOINT in the final stage; the image's binaries are chosen by command", n.StartLine)
			}
			cmds := final.find("cmd")
			switch {
			case tc.cmd == nil && len(cmds) > 0:
				t.Errorf("line %d: CMD in the final stage; want none", cmds[0].StartLine)
			case tc.cmd != nil && (len(cmds) != 1 || !cmds[0].Attributes["json"]):
				t.Errorf("want exactly one exec-form (JSON) CMD %v in the final stage", tc.cmd)
			case tc.cmd != nil && !slices.Equal(words(cmds[0]), tc.cmd):
				t.Errorf("CMD %v, want %v", words(cmds[0]), tc.cmd)
			}
			if tc.cmd != nil {
				// The default command is a binary the image builds.
				def := build.argDefault("PACKAGES")
				if !slices.ContainsFunc(strings.Fields(def), func(p string) bool { return "/usr/local/bin/"+filepath.Base(p) == tc.cmd[0] }) {
					t.Errorf("CMD %v is not one of the binaries of PACKAGES=%q", tc.cmd, def)
				}
			}
			tc.runtimeOK(t, final)

			for _, s := range d.stages {
				for _, n := range s.insts {
					if n.Value == "add" {
						for _, w := range words(n) {
							if regexp.MustCompile(`^(https?|git)://|^git@|\.git$`).MatchString(w) {
								t.Errorf("line %d: ADD of a remote source %q", n.StartLine, w)
							}
						}
						t.Errorf("line %d: ADD; use COPY (ADD's implicit fetch/extract is not wanted)", n.StartLine)
					}
					if n.Value == "env" || n.Value == "arg" {
						for _, w := range words(n) {
							if regexp.MustCompile(`(?i)secret|password|token|_key\b`).MatchString(w) {
								t.Errorf("line %d: %s names a secret (%q); images carry no secrets", n.StartLine, strings.ToUpper(n.Value), w)
							}
						}
					}
				}
			}

			ignore, err := os.ReadFile(tc.file + ".dockerignore")
			if err != nil {
				t.Fatalf("no Dockerfile-specific ignore file: %v", err)
			}
			if !slices.Contains(strings.Split(string(ignore), "\n"), ".git") {
				t.Error(".dockerignore does not exclude .git")
			}
		})
	}
}

func aptHygiene(t *testing.T, runs string) {
	t.Helper()
	if strings.Contains(runs, "apt-get install") {
		if !strings.Contains(runs, "--no-install-recommends") {
			t.Errorf("apt-get install without --no-install-recommends: %q", runs)
		}
		if !strings.Contains(runs, "rm -rf /var/lib/apt/lists/*") {
			t.Errorf("apt lists left in the layer: %q", runs)
		}
	}
}

// checkGoVersion holds the image's Go to an exact patch release no older than
// the workspace's go directive.
func checkGoVersion(t *testing.T, v string) {
	t.Helper()
	if !regexp.MustCompile(`^1\.\d+\.\d+$`).MatchString(v) {
		t.Fatalf("ARG GO_VERSION=%q, want an exact release like 1.26.8", v)
	}
	work, err := os.ReadFile(filepath.Join(repoRoot(t), "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(work)
	if m == nil {
		t.Fatal("go.work has no go directive")
	}
	if compareVersions(v, string(m[1])) < 0 {
		t.Errorf("GO_VERSION %s is older than go.work's go %s", v, m[1])
	}
}

func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// notImages are main packages that are tools, not processes the fleet runs.
var notImages = map[string]string{
	"services/gateway/cmd/token":   "mints development JWTs",
	"services/gateway/cmd/openapi": "completes the generated OpenAPI document (make generate)",
}

// builtImages runs build.sh in dry-run mode and returns, per image, its
// Dockerfile and the main packages it builds.
func builtImages(t *testing.T, root string) map[string]builtImage {
	t.Helper()
	cmd := exec.Command("bash", "deploy/docker/build.sh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DRY_RUN=1", "TAG=test", "REGISTRY=example.test/pf")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	images := map[string]builtImage{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	// printf %q escapes the spaces between the packages.
	re := regexp.MustCompile(`^docker build --file deploy/docker/(\S+) --build-arg PACKAGES=(\S+(?:\\ \S+)*) --build-arg VERSION=test --tag example\.test/pf/([a-z-]+):test \.\s*$`)
	for sc.Scan() {
		m := re.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Errorf("unexpected build.sh line %q", sc.Text())
			continue
		}
		if _, dup := images[m[3]]; dup {
			t.Errorf("build.sh builds image %s twice", m[3])
		}
		images[m[3]] = builtImage{dockerfile: m[1], packages: strings.Split(m[2], `\ `)}
	}
	return images
}

type builtImage struct {
	dockerfile string
	packages   []string
}

// serviceOf is the service a main package belongs to: services/<s>/cmd/…,
// workers/<s>/cmd/…, or sandbox/cmd/… (sandbox).
func serviceOf(pkg string) string {
	parts := strings.Split(pkg, "/")
	switch {
	case len(parts) == 4 && (parts[0] == "services" || parts[0] == "workers") && parts[2] == "cmd":
		return parts[1]
	case len(parts) == 3 && parts[0] == "sandbox" && parts[1] == "cmd":
		return "sandbox"
	}
	return ""
}

// TestBuildScriptCoversEveryBinary runs build.sh in dry-run mode and checks
// that it builds one image per service holding every long-running binary and
// job of the repository, from main packages that exist, with the right
// Dockerfile.
func TestBuildScriptCoversEveryBinary(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	root := repoRoot(t)
	images := builtImages(t, root)
	if got := images["images"]; got.dockerfile != "Dockerfile.images" || !slices.Equal(got.packages, []string{"workers/images/cmd/images"}) {
		t.Errorf("the images worker is built with %+v, want Dockerfile.images and its one package", got)
	}
	built := map[string]string{} // package → image
	for name, img := range images {
		if name != "images" && img.dockerfile != "Dockerfile" {
			t.Errorf("image %s is built with %s, want the static Dockerfile", name, img.dockerfile)
		}
		for _, pkg := range img.packages {
			if other, dup := built[pkg]; dup {
				t.Errorf("%s is built into both %s and %s", pkg, other, name)
			}
			built[pkg] = name
			if serviceOf(pkg) != name {
				t.Errorf("image %s builds %s: an image is named after its service and holds only that service's binaries", name, pkg)
			}
			if _, tool := notImages[pkg]; tool {
				t.Errorf("image %s builds %s, a tool (%s), not a process", name, pkg, notImages[pkg])
			}
			dir := filepath.Join(root, pkg)
			if !isMainPackage(t, dir) {
				t.Errorf("build.sh builds %s, which is not a main package (yet?)", pkg)
			}
		}
	}
	// Every main package under services/, workers/ and sandbox/ is in its
	// service's image unless it is a listed tool.
	for _, pattern := range []string{"services/*/cmd/*", "workers/*/cmd/*", "sandbox/cmd/*"} {
		dirs, _ := filepath.Glob(filepath.Join(root, pattern))
		for _, dir := range dirs {
			rel, _ := filepath.Rel(root, dir)
			if _, tool := notImages[rel]; tool || !isMainPackage(t, dir) {
				continue
			}
			if _, ok := built[rel]; !ok {
				t.Errorf("main package %s is in no image of build.sh", rel)
			}
		}
	}
}

func isMainPackage(t *testing.T, dir string) bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if regexp.MustCompile(`(?m)^package main$`).Match(b) {
			return true
		}
	}
	return false
}
