package bench

import (
	"context"
	"errors"
	"fmt"
	"github.com/processfork/pf/internal/fixture"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/processfork/pf/manifest"
)

// A system is pf or one of its peers, as the workloads drive it: each
// store lives in a directory of its own.
type system interface {
	Name() string
	// Check says why the system cannot run on this machine, or nil.
	Check() error
	// Open opens the store in dir, creating it if dir is empty.
	Open(ctx context.Context, dir string) (store, error)
}

// A store is one open store of a system. Each method stores durably, as
// far as the system does by default; methods a system has no sensible
// way to do return an unsupportedError.
type store interface {
	// Snapshot stores an image of f created at t with the given parents
	// and returns its id: the digest of its manifest, which is the same
	// bytes in every system.
	Snapshot(ctx context.Context, f *fixture.Fixture, t time.Time, parents []manifest.Digest) (manifest.Digest, error)
	// Ingest stores blobs and returns the keys to read them back by.
	Ingest(ctx context.Context, blobs [][]byte) ([]string, error)
	// Get reads a blob back by its key.
	Get(ctx context.Context, key string) ([]byte, error)
	// PutLarge stores one large blob.
	PutLarge(ctx context.Context, b []byte) error
	Close() error
}

// A historian keeps images for history queries: the newest n created at
// or after a time.
type historian interface {
	// BuildHistory makes a store in dir (empty) holding the images of h.
	// It need not be as durable as the system's commits (a cache is
	// rebuilt when incomplete), and it is not timed.
	BuildHistory(ctx context.Context, dir string, h *history) error
	OpenHistory(ctx context.Context, dir string) (historyStore, error)
}

// A historyCompactor has a command of its own that its users run to make
// a store smaller after it grew: pf compact, git gc, SQLite's VACUUM.
// History stores are measured after it, each system's the same way, as a
// store kept for long would be kept.
type historyCompactor interface {
	// CompactHistory runs that command on the history store in dir.
	CompactHistory(ctx context.Context, dir string) error
	// Compaction names the command, for the row's note.
	Compaction() string
}

// An ingestCompactor has a command of its own that makes a store of blobs
// alone smaller once they are in: pf compact, SQLite's VACUUM. An ingest's
// store is measured after it, as a store kept for long would be kept; the
// issue's goal on stored bytes allows the strongest compression at compact
// time. git gc is not one: it loosens the blobs no commit names out of the
// pack fast-import wrote, which is git's packed form already.
type ingestCompactor interface {
	// CompactIngest runs that command on the ingest store in dir.
	CompactIngest(ctx context.Context, dir string) error
	// Compaction names the command, for the row's note.
	Compaction() string
}

type historyStore interface {
	// Newest returns the summaries of the n newest images created at or
	// after since, newest first: what pf log lists of each.
	Newest(ctx context.Context, since time.Time, n int) ([]imageSummary, error)
	Close() error
}

// An imageSummary is what a history query returns of each image, as pf
// log lists it: the id, creation time, agent and parents. Each system
// answers from what it keeps: pf and SQLite from an index that holds the
// summary, git and the reference design by parsing each manifest.
type imageSummary struct {
	id      manifest.Digest
	created time.Time
	agent   manifest.Agent
	parents []manifest.Digest
}

// summaryOf is the summary of image id, whose manifest is m.
func summaryOf(id manifest.Digest, m *manifest.Manifest) imageSummary {
	return imageSummary{id: id, created: m.CreatedAt, agent: m.Agent, parents: m.Parents}
}

// summarize parses each manifest of raws into its summary.
func summarize(raws [][]byte) ([]imageSummary, error) {
	out := make([]imageSummary, len(raws))
	for i, raw := range raws {
		m, err := manifest.Decode(raw)
		if err != nil {
			return nil, err
		}
		out[i] = summaryOf(manifest.Sum(raw), m)
	}
	return out, nil
}

// unsupportedError is a workload a system has no way to do.
type unsupportedError struct{ why string }

func (e unsupportedError) Error() string { return e.why }

func unsupported(format string, args ...any) error {
	return unsupportedError{fmt.Sprintf(format, args...)}
}

func isUnsupported(err error) bool { return errors.As(err, new(unsupportedError)) }

// systemNamed returns the system of that name.
func systemNamed(name string) (system, error) {
	switch name {
	case sysPF:
		return pfSystem{}, nil
	case sysReference:
		return refSystem{}, nil
	case sysGit:
		return gitSystem{loose: false}, nil
	case sysGitLoose:
		return gitSystem{loose: true}, nil
	case sysSQLite:
		return sqliteSystem{}, nil
	}
	return nil, fmt.Errorf("no system %q", name)
}

// fixtureManifest returns the manifest of an image of f: the bytes pf's
// Snapshot writes for it, which the reference design and the other peers
// store too.
func fixtureManifest(f *fixture.Fixture, t time.Time, parents []manifest.Digest) ([]byte, manifest.Digest, error) {
	m := f.Manifest(t, parents...)
	raw, err := m.Encode()
	if err != nil {
		return nil, manifest.Digest{}, err
	}
	return raw, manifest.Sum(raw), nil
}

// diskUsage is the space the files under path take on disk, as du counts
// it (allocated blocks where the system says, else apparent sizes), and
// their apparent size.
func diskUsage(path string) (disk, apparent int64, err error) {
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a temporary file that went away
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		disk += allocated(info)
		if !d.IsDir() {
			apparent += info.Size()
		}
		return nil
	})
	return disk, apparent, err
}

// mkdirEmpty makes dir, removing whatever was there.
func mkdirEmpty(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.MkdirAll(dir, 0o755)
}
