package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// benchWorkspace writes a small project: files of a coding agent's
// workspace, as a desktop tool snapshots it every turn.
func benchWorkspace(tb testing.TB, dir string, files int) {
	tb.Helper()
	for i := range files {
		p := filepath.Join(dir, fmt.Sprintf("pkg%02d", i%20), fmt.Sprintf("file%03d.go", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		body := fmt.Sprintf("package pkg%02d\n\n// file %d\n", i%20, i)
		for len(body) < 2048 {
			body += "func f() int { return 42 } // padding to a typical source file's size\n"
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkServe_Snapshot takes the same warm workspace snapshot (200
// files, unchanged since the last one) in pf serve's process and through
// its socket, alternately, and reports each and their ratio. The goal: the
// socket costs at most 1.2x.
func BenchmarkServe_Snapshot(b *testing.B) {
	srv := startInProcessServer(b)
	ws := filepath.Join(srv.dir, "ws")
	benchWorkspace(b, ws, 200)
	snap := func(via func(...string) (int, string, string)) time.Duration {
		start := time.Now()
		if code, _, errs := via("snapshot", "--fs-root", ws); code != 0 {
			b.Fatalf("snapshot: %s", errs)
		}
		return time.Since(start)
	}
	snap(srv.runHere) // cold: every file read once
	var here, socket time.Duration
	b.ResetTimer()
	for range b.N {
		here += snap(srv.runHere)
		socket += snap(srv.run)
	}
	reportPair(b, here, socket, b.N)
}

// BenchmarkServe_Snapshot16 runs 16 agents snapshotting their workspaces
// at once, 4 snapshots each a round, in pf serve's process and through its
// socket in alternate rounds, and reports the rates and their ratio. The
// goal: through the socket, at least 80% of the in-process rate.
func BenchmarkServe_Snapshot16(b *testing.B) {
	const agents, each = 16, 4
	srv := startInProcessServer(b)
	ws := make([]string, agents)
	for a := range ws {
		ws[a] = filepath.Join(srv.dir, fmt.Sprintf("ws%02d", a))
		benchWorkspace(b, ws[a], 50)
	}
	round := func(via func(...string) (int, string, string)) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for a := range agents {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					if code, _, errs := via("snapshot", "--fs-root", ws[a]); code != 0 {
						b.Errorf("snapshot: %s", errs)
						return
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	round(srv.runHere)
	var here, socket time.Duration
	b.ResetTimer()
	for range b.N {
		here += round(srv.runHere)
		socket += round(srv.run)
	}
	n := b.N * agents * each
	b.ReportMetric(float64(n)/here.Seconds(), "inprocess-snapshots/s")
	b.ReportMetric(float64(n)/socket.Seconds(), "socket-snapshots/s")
	b.ReportMetric(here.Seconds()/socket.Seconds(), "socket-rate/inprocess-rate")
}

// reportPair reports the in-process and socket times per operation and
// their ratio.
func reportPair(b *testing.B, here, socket time.Duration, n int) {
	b.ReportMetric(float64(here.Microseconds())/float64(n)/1000, "inprocess-ms/op")
	b.ReportMetric(float64(socket.Microseconds())/float64(n)/1000, "socket-ms/op")
	b.ReportMetric(socket.Seconds()/here.Seconds(), "socket/inprocess")
}
