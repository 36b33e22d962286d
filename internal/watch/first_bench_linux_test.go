package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/worktree"
)

// watchesAtEnd starts a capture's file watches as its End returns, as
// changeSet.End did before a server started them once the command
// answered: the old way, for BenchmarkWatcher_FirstCheckpoint.
type watchesAtEnd struct{ w *Watcher }

func (c watchesAtEnd) Begin(ctx context.Context) (worktree.ChangeSet, error) {
	set, err := c.w.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return endThenWatch{set.(*changeSet)}, nil
}

type endThenWatch struct{ *changeSet }

func (s endThenWatch) End(memo any) {
	s.changeSet.End(memo)
	s.w.StartFileWatches()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWatcher_FirstCheckpoint: a served first checkpoint of a tree
// shaped as pf-bench's 100,000 small files (20 files a directory, 20
// levels deep), scaled to 20,000 files, each into a new store through a
// new watcher, its file watches started as its capture ends ("atEnd",
// the old way) or once the snapshot returned ("after"), alternating;
// wall and CPU of the snapshot alone.
func BenchmarkWatcher_FirstCheckpoint(b *testing.B) {
	dir := b.TempDir()
	writeDeepTree(b, dir, 20_000, func(rel string, f int) string {
		return fmt.Sprintf("small file %s %0*d", rel, 100+f%1400, f)
	})
	root, err := filepath.EvalSymlinks(dir)
	must(b, err)
	stores := b.TempDir()
	var wall, cpu [2][]time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for v := range 2 {
			b.StopTimer()
			w, err := newWatcher(root)
			must(b, err)
			var changes worktree.Changes = w
			if v == 0 {
				changes = watchesAtEnd{w}
			}
			p := filepath.Join(stores, "store.pf")
			s, err := pf.Open(p, nil)
			must(b, err)
			b.StartTimer()
			start, startCPU := time.Now(), cpuTime()
			_, err = s.Snapshot(ctx, pf.Snapshot{Agent: agent, World: &worktree.Capture{Root: root, Store: s, Changes: changes}})
			wall[v] = append(wall[v], time.Since(start))
			cpu[v] = append(cpu[v], cpuTime()-startCPU)
			b.StopTimer()
			must(b, err)
			w.capture.Lock()
			w.StartFileWatches()
			<-w.filesWatched
			w.capture.Unlock()
			must(b, w.Close())
			must(b, s.Close())
			must(b, os.Remove(p))
			b.StartTimer()
		}
	}
	b.StopTimer()
	median := func(d []time.Duration) float64 {
		d = slices.Clone(d)
		slices.Sort(d)
		return d[len(d)/2].Seconds()
	}
	b.ReportMetric(median(wall[0]), "atEnd-wall-s")
	b.ReportMetric(median(wall[1]), "after-wall-s")
	b.ReportMetric(median(wall[1])/median(wall[0]), "wall-ratio")
	b.ReportMetric(median(cpu[0]), "atEnd-cpu-s")
	b.ReportMetric(median(cpu[1]), "after-cpu-s")
	b.ReportMetric(median(cpu[1])/median(cpu[0]), "cpu-ratio")
	var ratios []float64
	for i := range wall[0] {
		ratios = append(ratios, wall[1][i].Seconds()/wall[0][i].Seconds())
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "paired-wall-ratio")
}
