package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A command that finds the store held waits --timeout for it (10s by
// default), and on a terminal says whom it waits for; --timeout 0 does not
// wait at all (issue 14 item 6, issue 15 item 8).
func TestBusy_WaitSaysWhoHolds(t *testing.T) {
	store := filepath.Join(t.TempDir(), "store.pf")
	var out, errs bytes.Buffer
	if code := run([]string{"pf", "--store", store, "init"}, testInvocation(&out, &errs)); code != 0 {
		t.Fatalf("init: %d %s", code, errs.String())
	}
	pid := startHolder(t, store)

	errs.Reset()
	inv := testInvocation(&out, &errs)
	inv.Terminal = true
	start := time.Now()
	code := run([]string{"pf", "--store", store, "--timeout", "700ms", "log"}, inv)
	waited := time.Since(start)
	if code != exitBusy {
		t.Fatalf("exit %d, want %d: %s", code, exitBusy, errs.String())
	}
	if waited < 600*time.Millisecond || waited > 3*time.Second {
		t.Fatalf("gave up after %v with --timeout 700ms", waited)
	}
	lines := strings.Split(strings.TrimSpace(errs.String()), "\n")
	wantWait := fmt.Sprintf("pf: waiting for pid %d (", pid)
	if len(lines) != 2 || !strings.HasPrefix(lines[0], wantWait) || !strings.Contains(lines[1], fmt.Sprintf("held by pid %d", pid)) {
		t.Fatalf("stderr %q: want a line %q... then the error naming the holder", errs.String(), wantWait)
	}

	// Not on a terminal: only the error.
	errs.Reset()
	if code := run([]string{"pf", "--store", store, "--timeout", "0.2", "log"}, testInvocation(&out, &errs)); code != exitBusy || strings.Contains(errs.String(), "waiting") {
		t.Fatalf("exit %d, stderr %q", code, errs.String())
	}

	// --timeout 0: at once.
	errs.Reset()
	start = time.Now()
	code = run([]string{"pf", "--store", store, "--timeout", "0", "log"}, testInvocation(&out, &errs))
	if waited := time.Since(start); code != exitBusy || waited > 500*time.Millisecond {
		t.Fatalf("--timeout 0: exit %d after %v: %s", code, waited, errs.String())
	}
}
