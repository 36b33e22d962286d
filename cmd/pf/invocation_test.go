package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommands_TakeTheProcessFromTheirInvocation reads cmd/pf's source:
// pf serve runs every command for another process, so a command that
// asks package os for the working directory, environment, standard
// streams, home, time zone or signals gets the server's, not its caller's.
// Only the code that makes this process's own invocation may.
func TestCommands_TakeTheProcessFromTheirInvocation(t *testing.T) {
	forbidden := map[string]map[string]string{
		"os": {
			"Getwd": "inv.Dir", "Chdir": "inv.Dir", "Getenv": "inv.getenv", "LookupEnv": "inv.getenv",
			"Environ": "inv.Env", "Stdin": "inv.Stdin", "Stdout": "c.App.Writer", "Stderr": "c.App.ErrWriter",
			"UserHomeDir": "inv.getenv", "Exit": "an error",
		},
		"filepath": {"Abs": "inv.path"},
		"time":     {"Local": "inv.Location"},
		"pf":       {"DefaultPath": "pf.DefaultPathFor(inv.getenv)"},
		"signal":   {"Notify": "inv.Context", "NotifyContext": "inv.Context"},
		"term":     {"IsTerminal": "inv.Terminal"},
	}
	// Where this process's own invocation is made, and pf serve's own
	// signals (it never runs for another process).
	allowed := map[string]bool{
		"invocation.go:osInvocation": true, "invocation.go:bufferedInvocation": true,
		"invocation.go:machineLocation": true, "main.go:main": true, "main.go:run": true,
		"serve.go:waitAndStop": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if ok && allowed[name+":"+fn.Name.Name] {
				continue
			}
			ast.Inspect(decl, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.SelectorExpr:
					if pkg, ok := n.X.(*ast.Ident); ok {
						if use, bad := forbidden[pkg.Name][n.Sel.Name]; bad {
							t.Errorf("%s: %s.%s: a command takes this from its invocation (%s)", fset.Position(n.Pos()), pkg.Name, n.Sel.Name, use)
						}
					}
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Local" && len(n.Args) == 0 {
						t.Errorf("%s: .Local(): show times in the invocation's zone (localTime)", fset.Position(n.Pos()))
					}
				case *ast.KeyValueExpr:
					if k, ok := n.Key.(*ast.Ident); ok && k.Name == "EnvVars" {
						t.Errorf("%s: EnvVars: urfave/cli reads the server's environment; read inv.getenv", fset.Position(n.Pos()))
					}
				}
				return true
			})
		}
	}
	if _, err := os.Stat("invocation.go"); err != nil {
		t.Fatal("run from cmd/pf:", err)
	}
}
