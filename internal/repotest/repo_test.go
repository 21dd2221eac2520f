package repotest

import (
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/gdirector/gdirector"

func root(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

// goFiles maps each package directory (relative) to its .go files.
func goFiles(t *testing.T) map[string][]string {
	t.Helper()
	r := root(t)
	pkgs := map[string][]string{}
	err := filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && p != r {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") {
			rel, _ := filepath.Rel(r, filepath.Dir(p))
			pkgs[rel] = append(pkgs[rel], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func TestGofmt(t *testing.T) {
	for _, files := range goFiles(t) {
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := format.Source(src)
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			if string(out) != string(src) {
				t.Errorf("%s is not gofmt-formatted", f)
			}
		}
	}
}

func TestPackageDocs(t *testing.T) {
	for dir, files := range goFiles(t) {
		documented, hasNonTest := false, false
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			hasNonTest = true
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if af.Doc != nil && strings.TrimSpace(af.Doc.Text()) != "" {
				documented = true
			}
		}
		if hasNonTest && !documented {
			t.Errorf("package %s has no package doc comment", dir)
		}
	}
}

// allowed lists, for the data-plane packages, the module packages each may
// import (DESIGN.md §2); standard library imports are always allowed, and
// the listed third-party prefixes where given.
var allowed = map[string][]string{
	"header":          {},
	"vs":              {},
	"link":            {},
	"link/afpacket":   {"link", "header", "golang.org/x/sys", "golang.org/x/net/bpf"},
	"link/linktest":   {"link"},
	"sched":           {"vs", "header"},
	"conntrack":       {"header", "vs", "internal/clock"},
	"internal/clock":  {},
	"forward":         {"header", "conntrack", "vs"},
	"forward/nat":     {"forward", "header", "conntrack", "vs"},
	"forward/dr":      {"forward", "header"},
	"forward/tun":     {"forward", "header"},
	"forward/fullnat": {"forward", "header", "conntrack", "vs"},
	"datapath":        {"link", "header", "vs", "sched", "conntrack", "forward", "forward/nat", "forward/dr", "forward/tun", "forward/fullnat", "internal/clock", "trace"},
	"trace":           {"conntrack", "forward", "sched", "vs", "header"},
	"internal/pkt":    {"header"},
}

func TestImportAllowList(t *testing.T) {
	pkgs := goFiles(t)
	for dir, allow := range allowed {
		files, ok := pkgs[dir]
		if !ok {
			t.Errorf("package %s listed in the allow-list does not exist", dir)
			continue
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue // tests may use helpers (gopacket, builders)
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				path := strings.Trim(imp.Path.Value, `"`)
				if !strings.Contains(strings.Split(path, "/")[0], ".") {
					continue // standard library
				}
				if !permitted(path, allow) {
					t.Errorf("%s imports %s, outside its allow-list %v", f, path, allow)
				}
			}
		}
	}
}

func permitted(path string, allow []string) bool {
	for _, a := range allow {
		if strings.Contains(a, ".") { // third-party prefix
			if path == a || strings.HasPrefix(path, a+"/") {
				return true
			}
			continue
		}
		if path == module+"/"+a {
			return true
		}
	}
	return false
}

func TestVet(t *testing.T) {
	if testing.Short() {
		t.Skip("go vet skipped in -short mode")
	}
	cmd := exec.Command("go", "vet", "./...")
	cmd.Dir = root(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go vet ./...: %v\n%s", err, out)
	}
}
