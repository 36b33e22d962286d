package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

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
// checkpoints jobs.
func TestScripts(t *testing.T) {
	pf := filepath.Join(t.TempDir(), "pf")
	if out, err := exec.Command("go", "build", "-o", pf, "github.com/processfork/pf/cmd/pf").CombinedOutput(); err != nil {
		t.Fatalf("build pf: %v\n%s", err, out)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("PF", pf)
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
