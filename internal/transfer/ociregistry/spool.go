package ociregistry

import (
	"io"
	"os"

	"github.com/processfork/pf/internal/transfer"
)

// keepSpoolMax is the largest spool a push keeps for its next blob.
// Writing over pages a file has is cheaper than giving a new file new
// pages and taking them back when it is removed (13% of the CPU of a
// 1 GiB push of 16 MiB blobs); a larger spool goes at once, so that a
// push does not hold the disk a huge blob took while the rest move.
const keepSpoolMax = 64 << 20

// spools are the files a push's large blobs are compressed into while
// their layers' digests are learnt, one a blob on its way, reused from
// blob to blob where the system lets a file be written again after its
// name is gone (Unix). Such a file has no name from the start, so a push
// that is killed leaves none behind.
type spools struct {
	dir  string
	idle *transfer.Idle[*os.File]
}

func newSpools(dir string) *spools {
	return &spools{dir: dir, idle: transfer.NewIdle[*os.File](pushConcurrency())}
}

// get returns an empty spool, or one a blob before used, at its start.
func (s *spools) get() (*os.File, error) {
	if f := s.idle.Get(func() *os.File { return nil }); f != nil {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}
	f, err := os.CreateTemp(s.dir, "pf-push-*.zst")
	if err != nil {
		return nil, err
	}
	unlinkOpen(f)
	return f, nil
}

// put gives spool f back once its layer, size bytes, is uploaded (done)
// or has failed: it is kept for the next blob only if its upload is
// done, as a failed request may still be reading it.
func (s *spools) put(f *os.File, size int64, done bool) {
	if done && size <= keepSpoolMax && reusable && s.idle.Put(f) {
		return
	}
	discard(f)
}

// close drops the spools kept.
func (s *spools) close() {
	for {
		f := s.idle.Get(func() *os.File { return nil })
		if f == nil {
			return
		}
		discard(f)
	}
}

// discard closes spool f and, where it still has its name, removes it.
// Where its name went when it was made (Unix), the name is not removed
// again: another file may have it by now.
func discard(f *os.File) {
	f.Close()
	if !reusable {
		os.Remove(f.Name())
	}
}
