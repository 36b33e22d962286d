package worktree

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// writeEach runs write on every item on a pool of workers (0: a default
// suited to the machine), reporting to progress the files done and the
// bytes write reports through wrote, as it writes them (so that one large
// file shows its bytes while it is written); the first error stops the
// rest and is returned.
func writeEach[T any](ctx context.Context, workers int, progress func(Progress), items []T, write func(ctx context.Context, item T, wrote func(n int64)) error) error {
	if workers <= 0 {
		workers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var doneFiles, doneBytes atomic.Int64
	stop := startProgress(progress, time.Now(), &doneFiles, &doneBytes)
	defer stop()
	jobs := make(chan T)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for item := range jobs {
				if ctx.Err() != nil {
					continue
				}
				err := write(ctx, item, func(n int64) { doneBytes.Add(n) })
				doneFiles.Add(1)
				if err != nil {
					cancel(err)
				}
			}
		}()
	}
	for _, item := range items {
		select {
		case jobs <- item:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	return context.Cause(ctx)
}
