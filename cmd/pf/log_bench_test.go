package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/processfork/pf/internal/index/indextest"
)

// BenchmarkLogCommand_Newest100 times the whole `pf log -n 100` command on
// a large store, process start to exit, as a user meets it: the issue's
// goal is under 50 ms at a million images. The binary is built once; the
// stores are those of the root package's BenchmarkLog_Newest100, built on
// first use and kept in the temporary directory (the million takes about
// a minute, so it is skipped with -short).
func BenchmarkLogCommand_Newest100(b *testing.B) {
	bin := buildPF(b)
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("images=%d", n), func(b *testing.B) {
			if n > 10_000 && testing.Short() {
				b.Skip("the million-image store is not built with -short")
			}
			store, err := indextest.Cached(n)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				out, err := exec.Command(bin, "--store", store, "log", "-n", "100").Output()
				if err != nil {
					b.Fatal(err)
				}
				if lines := countLines(out); lines != 100 {
					b.Fatalf("%d lines, want 100", lines)
				}
			}
		})
	}
}

var (
	buildOnce sync.Once
	builtPF   string
	buildErr  error
)

// buildPF builds the pf command once per test process, always to the same
// place in the temporary directory, so that runs leave one binary behind.
func buildPF(b testing.TB) string {
	buildOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), "pf-bench-bin")
		if buildErr = os.MkdirAll(dir, 0o755); buildErr != nil {
			return
		}
		builtPF = filepath.Join(dir, "pf")
		out, err := exec.Command("go", "build", "-o", builtPF, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return builtPF
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}
