package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGet_OutputDevStdout_AsAnotherUser: pf get -o /dev/stdout, run by a
// user who may not write in /dev, writes to its standard output (it once
// tried to stage a file in /dev: "open /dev/.stdout.NNN.tmp: permission
// denied").
func TestGet_OutputDevStdout_AsAnotherUser(t *testing.T) {
	bin := buildPF(t)
	dir, asUser := otherUser(t)
	store := filepath.Join(dir, "store.pf")
	input := filepath.Join(dir, "hello.txt")
	if err := os.WriteFile(input, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init"}, {"put", input}} {
		if out, err := asUser(exec.Command(bin, append([]string{"--store", store}, args...)...)).CombinedOutput(); err != nil {
			t.Fatalf("pf %s: %v %s", args[0], err, out)
		}
	}
	cmd := asUser(exec.Command(bin, "--store", store, "get", "5891b5", "-o", "/dev/stdout"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pf get -o /dev/stdout: %v %s", err, exitStderr(err))
	}
	if string(out) != "hello\n" {
		t.Fatalf("stdout %q", out)
	}
}

// exitStderr is what a command that Output ran said on stderr.
func exitStderr(err error) string {
	if e, ok := err.(*exec.ExitError); ok {
		return string(e.Stderr)
	}
	return ""
}
