package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/processfork/pf"
)

// TestTwoProcesses runs pf processes side by side on one store: readers
// wait out writers (each holds the store only while it runs), and a
// process that finds the store held past --timeout exits 5 within about
// that timeout, naming the holder.
func TestTwoProcesses(t *testing.T) {
	bin := buildPF(t)
	store := filepath.Join(t.TempDir(), "store.pf")
	pfc := func(args ...string) *exec.Cmd {
		return exec.Command(bin, append([]string{"--store", store}, args...)...)
	}
	if out, err := pfc("init").CombinedOutput(); err != nil {
		t.Fatalf("init: %v %s", err, out)
	}

	const rounds = 15
	var wg sync.WaitGroup
	errs := make(chan error, 2*rounds)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < rounds; i++ {
			if out, err := pfc("--timeout", "5s", "snapshot", "--fixture", "--seed", fmt.Sprint(i)).CombinedOutput(); err != nil {
				errs <- fmt.Errorf("writer %d: %v %s", i, err, out)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < rounds; i++ {
			if out, err := pfc("--timeout", "5s", "log", "-n", "1").CombinedOutput(); err != nil {
				errs <- fmt.Errorf("reader %d: %v %s", i, err, out)
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// This test process now holds the store, as a long snapshot would.
	s, err := pf.Open(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, args := range [][]string{{"snapshot", "--fixture"}, {"log"}} {
		start := time.Now()
		out, err := pfc(append([]string{"--timeout", "300ms"}, args...)...).CombinedOutput()
		waited := time.Since(start)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitBusy {
			t.Fatalf("pf %s beside a holder: %v %s", args[0], err, out)
		}
		if waited < 200*time.Millisecond || waited > 3*time.Second { // bbolt retries every 50ms
			t.Fatalf("pf %s gave up after %v, with a 300ms timeout", args[0], waited)
		}
		if want := fmt.Sprintf("pid %d", os.Getpid()); !strings.Contains(string(out), want) {
			t.Fatalf("pf %s: %q does not name the holder (%s)", args[0], out, want)
		}
	}
}
