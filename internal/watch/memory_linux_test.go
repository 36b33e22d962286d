package watch

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/processfork/pf/worktree"
)

// BenchmarkWatcher_Memory: what pf serve keeps on a tree shaped as
// pf-bench's checkpoints-small (100,001 files of about 800 bytes in
// 30,870 directories), through the watcher: the first snapshot, then per
// round 10 files edited, a status, a snapshot, a restore of the first
// image and back. It reports the live heap after a collection (what the
// watcher, memos, stat cache, encodings and cached restore plans keep)
// and the process's peak RSS (which the collector's pacing, GOGC, lets
// grow to about twice that), so that a change to what is kept can be
// weighed without pf-bench. Run it with -benchtime=1x (the peak RSS is
// the process's, and a run of b.N > 1 comes after one of 1) and, for the
// holders, -memprofile.
func BenchmarkWatcher_Memory(b *testing.B) {
	dir := b.TempDir()
	const nDirs, nFiles = 30870, 100001
	dirs := make([]string, nDirs)
	dirs[0] = "d0"
	for i := 1; i < nDirs; i++ { // a binary tree of directories, 15 deep
		dirs[i] = filepath.Join(dirs[(i-1)/2], fmt.Sprintf("d%d", i))
	}
	body := strings.Repeat("x", 780)
	var files []string
	for i := range nFiles {
		rel := filepath.Join(dirs[i%nDirs], fmt.Sprintf("f%d.txt", i))
		write(b, dir, rel, fmt.Sprintf("%d %s", i, body))
		files = append(files, rel)
	}
	root, w, s, capture := servedTree(b, dir)
	b.ResetTimer()
	first, err := s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: capture()})
	must(b, err)
	last := first
	for i := 0; i < b.N; i++ {
		for k := range 10 {
			rel := files[(i*10+k)*7919%len(files)]
			must(b, os.WriteFile(filepath.Join(root, rel), []byte(fmt.Sprintf("edit %d of %s", i, rel)), 0o644))
		}
		_, err := worktree.Status(ctx, s, last, root, worktree.StatusOptions{Changes: w})
		must(b, err)
		last, err = s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: capture(), Parents: []manifest.Digest{last}})
		must(b, err)
		for _, id := range []manifest.Digest{first, last} {
			_, err = worktree.Restore(ctx, s, id, root, worktree.RestoreOptions{Changes: w})
			must(b, err)
		}
	}
	b.StopTimer()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.ReportMetric(float64(m.HeapAlloc)/(1<<20), "live-MiB")
	b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-RSS-MiB")
}

// peakRSS returns the process's peak resident set (VmHWM), in bytes.
func peakRSS(b *testing.B) int64 {
	status, err := os.ReadFile("/proc/self/status")
	must(b, err)
	for line := range bytes.Lines(status) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(rest)), " kB"), 10, 64)
			must(b, err)
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
