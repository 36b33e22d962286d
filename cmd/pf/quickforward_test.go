package main

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"testing"
)

// TestForwardedCommands: quickForward forwards the commands forward does,
// every command of the CLI but serve, completion and help.
func TestForwardedCommands(t *testing.T) {
	var want []string
	for _, cmd := range newApp(bufferedInvocation(t.TempDir(), nil, nil)).Commands {
		if cmd.Name != "serve" && cmd.Name != "completion" && cmd.Name != "help" {
			want = append(want, cmd.Name)
		}
		if len(cmd.Aliases) > 0 {
			t.Errorf("command %s has aliases %v, which forwardedCommands lacks", cmd.Name, cmd.Aliases)
		}
	}
	got := slices.Sorted(slices.Values(forwardedCommands))
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("forwardedCommands %v, want the CLI's %v", got, want)
	}
}

// TestQuickForward_PlainLinesOnly: a plain command line goes to the server
// before the CLI is built, any other takes the CLI's way (which forwards
// it or not as before); either way each prints and exits as the command
// run in the server's process does.
func TestQuickForward_PlainLinesOnly(t *testing.T) {
	srv := startInProcessServer(t)
	if code, _, errs := srv.run("snapshot", "--fs-root", srv.dir); code != 0 {
		t.Fatalf("snapshot: exit %d: %s", code, errs)
	}
	other := filepath.Join(t.TempDir(), "other.pf") // no server
	var initErrs bytes.Buffer
	if code := run([]string{"pf", "--store", other, "init"}, bufferedInvocation(srv.dir, new(bytes.Buffer), &initErrs)); code != 0 {
		t.Fatalf("init %s: exit %d: %s", other, code, initErrs.String())
	}
	tests := []struct {
		args  []string // after "pf"
		quick bool
	}{
		{[]string{"--store", srv.path, "status", srv.dir}, true},
		{[]string{"--store=" + srv.path, "log", "--json"}, true},
		{[]string{"-store", srv.path, "heads"}, true},
		{[]string{"--store", srv.path, "snapshot", "--no-such-flag"}, true},
		{[]string{"--store", srv.path, "log", "--json", "-n", "x"}, true},
		{[]string{"--store", srv.path, "log", "--", "--store"}, true},
		{[]string{"--store", srv.path, "no-such-command"}, false},
		{[]string{"--store", srv.path, "status", "--help"}, false},
		{[]string{"--store", srv.path, "--timeout", "1s", "log"}, false},
		{[]string{"--store", srv.path, "--store", srv.path, "log"}, false},
		{[]string{"--store", srv.path, "log", "--store", srv.path}, false},
		{[]string{"--store", srv.path, "log", "--timeout=1s"}, false},
		{[]string{"--store", srv.path, "completion", "bash"}, false},
		{[]string{"--store"}, false},
		{[]string{"log", "--store", srv.path}, false},
		{[]string{"--store", other, "log"}, false}, // no server there
	}
	for _, tt := range tests {
		args := append([]string{"pf"}, tt.args...)
		inv := bufferedInvocation(srv.dir, new(bytes.Buffer), new(bytes.Buffer))
		if _, quick, _ := quickForward(context.Background(), args, inv); quick != tt.quick {
			t.Errorf("%q: forwarded before the CLI: %v, want %v", tt.args, quick, tt.quick)
		}
		var out, errs, hereOut, hereErrs bytes.Buffer
		code := run(args, bufferedInvocation(srv.dir, &out, &errs))
		here := bufferedInvocation(srv.dir, &hereOut, &hereErrs)
		if !slices.Contains(tt.args, other) {
			here.served = srv.store
		}
		hereCode := run(args, here)
		if code != hereCode || out.String() != hereOut.String() || errs.String() != hereErrs.String() {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; in the server's process: exit %d, stdout %q, stderr %q",
				tt.args, code, out.String(), errs.String(), hereCode, hereOut.String(), hereErrs.String())
		}
	}
}
