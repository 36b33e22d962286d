package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// The goals of pf serve, measured with the same warm workspace snapshots
// in the server's process and through its socket, in alternate rounds of
// one run, so that the ratios hold on a noisy machine:
//
//   - a snapshot through the server at most 1.2x the time of the same
//     snapshot in process (BenchmarkServe_Snapshot);
//   - 16 clients snapshotting at once through the socket at no less than
//     80% of the in-process 16-agent rate (BenchmarkServe_Snapshot16).
//
// In process is pf snapshot run in the server's process against the store
// it holds, as 16 agents of one program would snapshot into a store they
// open. Through the socket is measured two ways: a desktop tool's, a
// long-lived client posting POST /api/v1/snapshots requests over HTTP on
// the socket (its own keep-alive connection each), and a pf command line
// forwarded on the socket as a pf process sends it (the forwarding done in
// this process: what a pf process costs the server, without the cost of
// starting one). BenchmarkServe_ProcessSnapshot16 starts a pf process per
// snapshot instead, as a shell loop would.

// snapshotArgs is the snapshot every route takes: what POST
// /api/v1/snapshots runs for {"dir": ws}.
func snapshotArgs(ws string) []string {
	return []string{"snapshot", "--json", "--no-env", "--fs-root=" + ws}
}

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
		// Written an hour ago: a snapshot trusts the stat cache for a
		// file modified well before the last one (a file modified
		// within the same moment is read again).
		old := time.Now().Add(-time.Hour)
		if err := os.Chtimes(p, old, old); err != nil {
			tb.Fatal(err)
		}
	}
}

// snapshotter snapshots agent a's workspace one way.
type snapshotter func(a int) error

// inProcess runs the snapshot in the server's process.
func (srv *inProcessServer) inProcess(ws []string) snapshotter {
	return func(a int) error {
		if code, _, errs := srv.runHere(snapshotArgs(ws[a])...); code != 0 {
			return fmt.Errorf("snapshot in process: exit %d: %s", code, errs)
		}
		return nil
	}
}

// forwarded sends the snapshot's command line on the socket, as a pf
// process does.
func (srv *inProcessServer) forwarded(ws []string) snapshotter {
	return func(a int) error {
		if code, _, errs := srv.run(snapshotArgs(ws[a])...); code != 0 {
			return fmt.Errorf("snapshot through the socket: exit %d: %s", code, errs)
		}
		return nil
	}
}

// throughAPI posts the snapshot to the API on the socket: one long-lived
// client per agent, as each window of a desktop tool keeps one.
func (srv *inProcessServer) throughAPI(ws []string) snapshotter {
	clients := make([]*http.Client, len(ws))
	bodies := make([][]byte, len(ws))
	for a := range ws {
		clients[a] = apiClient(srv)
		bodies[a], _ = json.Marshal(map[string]string{"dir": ws[a]})
	}
	return func(a int) error {
		resp, err := clients[a].Post("http://pf/api/v1/snapshots", "application/json", bytes.NewReader(bodies[a]))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusCreated {
			err = fmt.Errorf("POST /api/v1/snapshots: %d %s", resp.StatusCode, b)
		}
		return err
	}
}

// asProcess starts a pf process for the snapshot: it finds the socket
// beside the store and sends its command line there.
func (srv *inProcessServer) asProcess(tb testing.TB, ws []string) snapshotter {
	bin := buildPF(tb)
	return func(a int) error {
		cmd := exec.Command(bin, append([]string{"--store", srv.path}, snapshotArgs(ws[a])...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("pf snapshot: %v %s", err, out)
		}
		return nil
	}
}

// workspaces writes n agents' workspaces of files each.
func (srv *inProcessServer) workspaces(tb testing.TB, n, files int) []string {
	ws := make([]string, n)
	for a := range ws {
		ws[a] = filepath.Join(srv.dir, fmt.Sprintf("ws%02d", a))
		benchWorkspace(tb, ws[a], files)
	}
	return ws
}

// round runs each agents' snapshots at once, each snapshots in turn, and
// returns how long they all took.
func round(tb testing.TB, agents, each int, snap snapshotter) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if err := snap(a); err != nil {
					tb.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if tb.Failed() {
		tb.FailNow()
	}
	return time.Since(start)
}

// arms are the ways a benchmark snapshots, timed in turn: each round of
// each arm after the other's, so that a machine that slows down slows all.
type arms struct {
	names []string
	snap  []snapshotter
	times [][]time.Duration // a round's time, per arm
}

func (a *arms) add(name string, s snapshotter) {
	a.names = append(a.names, name)
	a.snap = append(a.snap, s)
	a.times = append(a.times, nil)
}

// run runs b.N rounds of every arm, after one round of each not counted.
func (a *arms) run(b *testing.B, agents, each int) {
	for _, s := range a.snap {
		round(b, agents, each, s)
	}
	b.ResetTimer()
	for range b.N {
		for i, s := range a.snap {
			a.times[i] = append(a.times[i], round(b, agents, each, s))
		}
	}
	b.StopTimer()
}

// median is arm i's median round time. The median, not the mean: a
// commit's fsync on a shared machine now and then takes ten times its
// usual time, and one such round would swing a mean.
func (a *arms) median(i int) time.Duration {
	t := slices.Clone(a.times[i])
	slices.Sort(t)
	return t[len(t)/2]
}

// BenchmarkServe_Snapshot takes the same warm workspace snapshot (200
// files, unchanged since the last one) in the server's process, through
// the API and as a forwarded command line, in turn, and reports each
// median time and their ratios. The goal: through the socket, at most
// 1.2x.
func BenchmarkServe_Snapshot(b *testing.B) {
	srv := startInProcessServer(b)
	ws := srv.workspaces(b, 1, 200)
	var a arms
	a.add("inprocess", srv.inProcess(ws))
	a.add("api", srv.throughAPI(ws))
	a.add("cli", srv.forwarded(ws))
	a.run(b, 1, 1)
	for i, name := range a.names {
		b.ReportMetric(float64(a.median(i).Microseconds())/1000, name+"-ms/op")
		if i > 0 {
			b.ReportMetric(a.median(i).Seconds()/a.median(0).Seconds(), name+"/inprocess")
		}
	}
}

// BenchmarkServe_Snapshot16 runs 16 agents snapshotting their workspaces
// (50 files each) at once, 4 snapshots each a round: in the server's
// process, through the API (16 long-lived clients) and as forwarded
// command lines, in turn, and reports each median rate and their ratios.
// The goal: through the socket, at least 80% of the in-process rate.
func BenchmarkServe_Snapshot16(b *testing.B) {
	const agents, each = 16, 4
	srv := startInProcessServer(b)
	ws := srv.workspaces(b, agents, 50)
	var a arms
	a.add("inprocess", srv.inProcess(ws))
	a.add("api", srv.throughAPI(ws))
	a.add("cli", srv.forwarded(ws))
	a.run(b, agents, each)
	reportRates(b, &a, agents*each)
}

// BenchmarkServe_ProcessSnapshot16 is BenchmarkServe_Snapshot16 with a pf
// process started for every snapshot, as 16 shell loops would: the rate
// is bounded by starting processes, not by the server.
func BenchmarkServe_ProcessSnapshot16(b *testing.B) {
	const agents, each = 16, 4
	srv := startInProcessServer(b)
	ws := srv.workspaces(b, agents, 50)
	var a arms
	a.add("inprocess", srv.inProcess(ws))
	a.add("process", srv.asProcess(b, ws))
	a.run(b, agents, each)
	reportRates(b, &a, agents*each)
}

// reportRates reports each arm's median rate of snapshots, and its ratio
// to the first arm's.
func reportRates(b *testing.B, a *arms, perRound int) {
	for i, name := range a.names {
		b.ReportMetric(float64(perRound)/a.median(i).Seconds(), name+"-snapshots/s")
		if i > 0 {
			b.ReportMetric(a.median(0).Seconds()/a.median(i).Seconds(), name+"-rate/inprocess-rate")
		}
	}
}
