package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/processfork/pf/internal/transfer/ociregistry/registrytest"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	os.Exit(testscript.RunMain(m, map[string]func() int{
		"pf-bench": func() int { return run(os.Args, os.Stdout, os.Stderr) },
	}))
}

// TestScripts runs testdata/script/*.txtar in an empty $WORK. Beside
// testscript's own commands, "exits N prog args..." runs prog and checks
// its exit status. $PF is a pf binary built from this module, for the
// checkpoints and registry jobs; $PF_TEST_REGISTRY, the registry binary
// of the registry job (built if need be, unless -short).
func TestScripts(t *testing.T) {
	pf := filepath.Join(t.TempDir(), "pf")
	if out, err := exec.Command("go", "build", "-o", pf, "github.com/processfork/pf/cmd/pf").CombinedOutput(); err != nil {
		t.Fatalf("build pf: %v\n%s", err, out)
	}
	var registry string
	if !testing.Short() {
		registry = registrytest.Binary(t)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("PF", pf)
			env.Setenv("PF_TEST_REGISTRY", registry)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits": cmdExits,
		},
	})
}

func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits N prog args...")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = exit.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}
