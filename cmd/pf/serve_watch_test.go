//go:build linux

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestServe_SnapshotAndStatusThroughWatcher: pf snapshot and pf status
// forwarded to pf serve, which watches the workspace, find what a pf
// without server finds, turn after turn.
func TestServe_SnapshotAndStatusThroughWatcher(t *testing.T) {
	srv := startServe(t, "--quiet")
	ws := t.TempDir()
	for _, p := range []string{"a/x.go", "a/b/y.go", "c/z.txt", "top.txt"} {
		writeFile(t, filepath.Join(ws, p), p)
	}
	plain := filepath.Join(t.TempDir(), "plain.pf")
	run := func(cmd *exec.Cmd) string {
		t.Helper()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v", cmd.Args, err)
		}
		return strings.TrimSpace(string(out))
	}
	if out, err := exec.Command(srv.bin, "--store", plain, "init").CombinedOutput(); err != nil {
		t.Fatalf("init: %v %s", err, out)
	}
	worldFS := func(store, id string) string {
		t.Helper()
		var m struct {
			World struct{ FS string } `json:"world"`
		}
		if err := json.Unmarshal([]byte(run(exec.Command(srv.bin, "--store", store, "show", id, "--json"))), &m); err != nil {
			t.Fatal(err)
		}
		return m.World.FS
	}
	turns := []func(){
		func() {},
		func() { writeFile(t, filepath.Join(ws, "a/b/y.go"), "changed") },
		func() { writeFile(t, filepath.Join(ws, "a/new/n.go"), "new") },
		func() { os.Rename(filepath.Join(ws, "c"), filepath.Join(ws, "a/c")) },
		func() { writeFile(t, filepath.Join(ws, "a/c/z.txt"), "in the moved directory") },
		func() { os.RemoveAll(filepath.Join(ws, "a/b")) },
	}
	for i, turn := range turns {
		turn()
		served := run(srv.pf("snapshot", "--fs-root", ws))
		alone := run(exec.Command(srv.bin, "--store", plain, "snapshot", "--fs-root", ws))
		if got, want := worldFS(srv.store, served), worldFS(plain, alone); got != want {
			t.Fatalf("turn %d: pf serve captured %s, pf alone %s", i, got, want)
		}
		writeFile(t, filepath.Join(ws, "top.txt"), "turn "+string(rune('0'+i)))
		if got, want := run(srv.pf("status", ws)), run(exec.Command(srv.bin, "--store", plain, "status", ws)); got != want || got != "M top.txt" {
			t.Fatalf("turn %d: status through pf serve %q, pf alone %q, want %q", i, got, want, "M top.txt")
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
