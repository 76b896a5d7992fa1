// Package gatehouse_test holds the repository's guards: formatting, vet,
// one package doc comment per package, and the import rules between rooms.
package gatehouse_test

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/gatehouse-ztna/gatehouse"

type pkg struct {
	ImportPath string
	Dir        string
	Name       string
	GoFiles    []string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "-deps=false", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestGofmt(t *testing.T) {
	files, err := exec.Command("git", "ls-files", "*.go").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err) // CI always runs in one
	}
	args := append([]string{"-l"}, strings.Fields(string(files))...)
	out, err := exec.Command("gofmt", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("gofmt: %v\n%s", err, out)
	}
	if len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("gofmt -l lists unformatted files (run `make fmt`):\n%s", out)
	}
}

func TestVet(t *testing.T) {
	out, err := exec.Command("go", "vet", "./...").CombinedOutput()
	if err != nil {
		t.Errorf("go vet ./... failed:\n%s", out)
	}
}

// TestPackageDocs: every package has exactly one file carrying the package
// doc comment, saying its job (and, for libraries, who may import it).
func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) == 0 {
			continue // this guard package: tests only
		}
		var withDoc []string
		for _, f := range p.GoFiles {
			file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if file.Doc != nil {
				withDoc = append(withDoc, f)
			}
		}
		if len(withDoc) != 1 {
			t.Errorf("package %s: package doc comment in %v, want exactly one file", p.ImportPath, withDoc)
			continue
		}
		if p.Name != "main" {
			file, _ := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, withDoc[0]), nil, parser.PackageClauseOnly|parser.ParseComments)
			if doc := file.Doc.Text(); !strings.Contains(doc, "mport") {
				t.Errorf("package %s: doc comment does not say who may import it", p.ImportPath)
			}
		}
	}
}

// TestImportRules keeps the rooms apart: the wire types import only the
// standard library, and nothing on the device side reaches into the
// controller.
func TestImportRules(t *testing.T) {
	deviceSide := []string{"/agent", "/posture", "/tunnel", "/gui", "/cmd/gatehouse", "/cmd/gatehouse-agent", "/cmd/gatehouse-tray"}
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.ImportPath, module)
		if rel == "/api" {
			for _, imp := range p.Imports {
				if strings.Contains(imp, ".") {
					t.Errorf("api imports %s; it may import only the standard library", imp)
				}
			}
		}
		for _, side := range deviceSide {
			if rel != side && !strings.HasPrefix(rel, side+"/") {
				continue
			}
			for _, imp := range p.Imports {
				if strings.HasPrefix(imp, module+"/controller") || strings.HasPrefix(imp, module+"/gateway") {
					t.Errorf("%s imports %s; device-side code must talk to the controller only through api", p.ImportPath, imp)
				}
			}
		}
	}
}
