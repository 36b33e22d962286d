package main

import (
	"os"
	"strings"

	"github.com/processfork/pf/internal/transfer/ociregistry/registrytest"
	"github.com/rogpeppe/go-internal/testscript"
)

// cmdRegistry starts a real OCI registry for a script:
//
//	registry NAME [auth] [tls]
//
// sets $NAME to its host:port and, with tls, $NAME_CA to the file of the
// certificate it serves; with auth it takes registrytest.User and
// .Password ($REGISTRY_USER, $REGISTRY_PASSWORD). It runs until the script
// ends.
func cmdRegistry(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: registry NAME [auth] [tls]")
	}
	var opts registrytest.Options
	for _, a := range args[1:] {
		switch a {
		case "auth":
			opts.Auth = true
		case "tls":
			opts.TLS = true
		default:
			ts.Fatalf("registry: unknown option %q", a)
		}
	}
	reg := registrytest.Start(scriptTB{ts}, opts)
	ts.Setenv(args[0], reg.Addr)
	ts.Setenv(args[0]+"_CA", reg.CA)
	ts.Setenv("REGISTRY_USER", registrytest.User)
	ts.Setenv("REGISTRY_PASSWORD", registrytest.Password)
	ts.Setenv(args[0]+"_STORAGE", reg.Storage())
}

// scriptTB is a script as registrytest.Start takes a test.
type scriptTB struct{ ts *testscript.TestScript }

func (s scriptTB) Helper()                           {}
func (s scriptTB) Fatalf(format string, args ...any) { s.ts.Fatalf(format, args...) }
func (s scriptTB) Cleanup(f func())                  { s.ts.Defer(f) }
func (s scriptTB) TempDir() string {
	dir, err := os.MkdirTemp(s.ts.Getenv("WORK"), "registry-")
	s.ts.Check(err)
	return strings.TrimSpace(dir)
}
