//go:build !windows

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// SIGINT ends a command that waits for the store, or works, at once with
// exit 130, as shells expect (issue 14 item 16).
func TestInterrupt_Exits130(t *testing.T) {
	if testing.Short() {
		t.Skip("builds pf")
	}
	bin := buildPF(t)
	store := filepath.Join(t.TempDir(), "store.pf")
	if out, err := exec.Command(bin, "--store", store, "init").CombinedOutput(); err != nil {
		t.Fatalf("init: %v %s", err, out)
	}
	startHolder(t, store)
	cmd := exec.Command(bin, "--store", store, "--timeout", "60s", "snapshot", "--fixture")
	var errs bytes.Buffer
	cmd.Stderr = &errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntilOpened(t, cmd.Process.Pid, store)
	start := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitInterrupted {
		t.Fatalf("after SIGINT: %v, want exit 130; stderr %q", err, errs.String())
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("SIGINT took %v to end the wait", took)
	}
	if got := errs.String(); got != "pf: interrupted\n" {
		t.Fatalf("stderr %q", got)
	}
}

// waitUntilOpened returns once process pid has the file at path open:
// past its start-up, so that a signal meets pf's handler, not the
// runtime's default. Where /proc is missing it waits half a second.
func waitUntilOpened(t *testing.T, pid int, path string) {
	t.Helper()
	fds := fmt.Sprintf("/proc/%d/fd", pid)
	if _, err := os.Stat(fds); err != nil {
		time.Sleep(500 * time.Millisecond)
		return
	}
	want, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		entries, _ := os.ReadDir(fds)
		for _, e := range entries {
			if target, err := os.Readlink(filepath.Join(fds, e.Name())); err == nil && target == want {
				return
			}
		}
	}
	t.Fatalf("process %d did not open %s in a minute", pid, path)
}
