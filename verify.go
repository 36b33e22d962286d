package pf

import (
	"bytes"
	"context"
	"fmt"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/index"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// VerifyOptions choose how far Verify looks.
type VerifyOptions struct {
	// Deep also re-reads every blob and chunk and re-hashes it.
	Deep bool
	// Progress, when set, is called with how many images and values have
	// been checked.
	Progress func(done, total int64)
}

// A Problem is one thing wrong with a store.
type Problem struct {
	Subject string // what is wrong: "image 1a2b3c4d5e6f", "tag main", "index/time"
	Detail  string
}

func (p Problem) String() string { return p.Subject + ": " + p.Detail }

// VerifyReport sums up a Verify.
type VerifyReport struct {
	Images, Blobs, Chunks int64
	Problems              []Problem
}

// maxProblems bounds the list a damaged store can produce.
const maxProblems = 10000

// Verify checks the store from one consistent read: every manifest parses
// and hashes to its id; every parent exists; every blob an image reaches
// exists, following fs.tree.v1 entries, cache pages, merged ledgers and
// chunk lists; the time and parent indexes and the manifests agree both
// ways; tags and heads name images; pins name blobs; the stats counters
// match what is stored; the packs of small values match the references to
// them. Deep
// also re-hashes every blob and chunk. A store that Verify finds nothing
// wrong with has an empty Problems.
func (s *Store) Verify(ctx context.Context, opts VerifyOptions) (VerifyReport, error) {
	var rep VerifyReport
	problem := func(subject, format string, args ...any) {
		if len(rep.Problems) < maxProblems {
			rep.Problems = append(rep.Problems, Problem{subject, fmt.Sprintf(format, args...)})
		}
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		v := verifier{ctx: ctx, tx: tx, opts: opts, problem: problem, rep: &rep, reached: map[manifest.Digest]bool{}}
		return v.run()
	})
	return rep, err
}

type verifier struct {
	ctx     context.Context
	tx      *bolt.Tx
	opts    VerifyOptions
	problem func(subject, format string, args ...any)
	rep     *VerifyReport
	reached map[manifest.Digest]bool // blobs already checked as present
	done    int64
	total   int64
}

func (v *verifier) run() error {
	v.total = db.Counter(v.tx, db.CounterImages)
	if v.opts.Deep {
		v.total += db.Counter(v.tx, db.CounterBlobs) + db.Counter(v.tx, db.CounterChunks)
	}
	for _, step := range []func() error{v.images, v.timeIndex, v.parentIndex, v.tags, v.heads, v.pins, v.values} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

func (v *verifier) tick() error {
	v.done++
	if v.opts.Progress != nil && v.done%256 == 0 {
		v.opts.Progress(v.done, v.total)
	}
	return v.ctx.Err()
}

// images checks each manifest, its parents, its index entries and what it
// reaches.
func (v *verifier) images() error {
	manifests, err := db.Bucket(v.tx, db.BucketManifests)
	if err != nil {
		return err
	}
	byTime, err := db.Bucket(v.tx, db.BucketIndex, db.BucketTime)
	if err != nil {
		return err
	}
	byParent, err := db.Bucket(v.tx, db.BucketIndex, db.BucketParent)
	if err != nil {
		return err
	}
	shallow, err := db.Bucket(v.tx, db.BucketShallow)
	if err != nil {
		return err
	}
	// One walker for every image: a tree or page list that images share is
	// read and checked once, so a store of many forks verifies in time
	// proportional to what it holds, not to images times tree size.
	walker := &reacher{}
	return manifests.ForEach(func(k, _ []byte) error {
		if err := v.tick(); err != nil {
			return err
		}
		v.rep.Images++
		if len(k) != len(manifest.Digest{}) {
			v.problem("manifests", "key of %d bytes", len(k))
			return nil
		}
		id := manifest.Digest(k)
		subject := "image " + id.Short()
		img, err := imageTx(v.tx, id)
		if err != nil {
			v.problem(subject, "%v", err)
			return nil
		}
		m := img.Manifest
		if byTime.Get(index.TimeKey(m.CreatedAt, id)) == nil {
			v.problem(subject, "no index/time entry for created_at %s", manifest.FormatTime(m.CreatedAt))
		}
		parents := m.Parents
		if len(parents) == 0 {
			parents = []manifest.Digest{{}}
		}
		for _, p := range parents {
			if byParent.Get(append(bytes.Clone(p[:]), id[:]...)) == nil {
				v.problem(subject, "no index/parent entry under %s", p.Short())
			}
		}
		for _, p := range m.Parents {
			if manifests.Get(p[:]) == nil && shallow.Get(id[:]) == nil {
				v.problem(subject, "parent %s is missing", p)
			}
		}
		err = walker.reach(m,
			func(d manifest.Digest) ([]byte, error) { return cas.ReadTx(v.tx, d) },
			func(d manifest.Digest, where string) error {
				if v.reached[d] {
					return nil
				}
				if err := cas.CheckStoredTx(v.tx, d); err != nil {
					v.problem(subject, "%s: %v", where, err)
					return nil
				}
				v.reached[d] = true
				return nil
			})
		if err != nil {
			v.problem(subject, "%v", err)
		}
		return nil
	})
}

// timeIndex checks that every index/time entry names an image created
// then.
func (v *verifier) timeIndex() error {
	return index.ScanTime(v.tx, index.TimeRange{}, func(key []byte, id manifest.Digest) (bool, error) {
		created, _, _ := index.ParseTimeKey(key)
		img, err := imageTx(v.tx, id)
		switch {
		case err != nil:
			v.problem("index/time", "entry for %s: %v", id.Short(), err)
		case !img.Manifest.CreatedAt.Equal(created):
			v.problem("index/time", "entry for %s at %s, the manifest says %s", id.Short(),
				manifest.FormatTime(created), manifest.FormatTime(img.Manifest.CreatedAt))
		}
		return true, v.ctx.Err()
	})
}

// parentIndex checks that every edge names a child that names the parent.
func (v *verifier) parentIndex() error {
	byParent, err := db.Bucket(v.tx, db.BucketIndex, db.BucketParent)
	if err != nil {
		return err
	}
	return byParent.ForEach(func(k, _ []byte) error {
		if len(k) != 64 {
			v.problem("index/parent", "key of %d bytes", len(k))
			return nil
		}
		parent, child := manifest.Digest(k[:32]), manifest.Digest(k[32:])
		img, err := imageTx(v.tx, child)
		if err != nil {
			v.problem("index/parent", "edge %s -> %s: %v", parent.Short(), child.Short(), err)
			return nil
		}
		named := parent.IsZero() && len(img.Manifest.Parents) == 0
		for _, p := range img.Manifest.Parents {
			named = named || p == parent
		}
		if !named {
			v.problem("index/parent", "edge %s -> %s, but the image does not name that parent", parent.Short(), child.Short())
		}
		return v.ctx.Err()
	})
}

func (v *verifier) tags() error {
	tags, err := db.Bucket(v.tx, db.BucketTags)
	if err != nil {
		return err
	}
	manifests, err := db.Bucket(v.tx, db.BucketManifests)
	if err != nil {
		return err
	}
	return tags.ForEach(func(name, val []byte) error {
		id, err := tagValue(string(name), val)
		switch {
		case err != nil:
			v.problem("tag "+string(name), "%v", err)
		case manifests.Get(id[:]) == nil:
			v.problem("tag "+string(name), "names image %s, which is not in the store", id)
		}
		return nil
	})
}

func (v *verifier) heads() error {
	heads, err := db.Bucket(v.tx, db.BucketHeads)
	if err != nil {
		return err
	}
	manifests, err := db.Bucket(v.tx, db.BucketManifests)
	if err != nil {
		return err
	}
	return heads.ForEach(func(k, val []byte) error {
		dir, session, ok := parseHeadKey(k)
		if !ok {
			v.problem("heads", "key %q has no NUL", k)
			return nil
		}
		subject := "head of " + dir + sessionSuffix(session)
		h, err := decodeHead(dir, session, val)
		switch {
		case err != nil:
			v.problem(subject, "%v", err)
		case manifests.Get(h.ID[:]) == nil:
			v.problem(subject, "names image %s, which is not in the store", h.ID)
		}
		return nil
	})
}

// pins checks that every pin names a blob the store holds.
func (v *verifier) pins() error {
	pins, err := db.Bucket(v.tx, db.BucketPins)
	if err != nil {
		return err
	}
	return pins.ForEach(func(k, val []byte) error {
		p, err := pinEntry(k, val)
		if err != nil {
			v.problem("pins", "%v", err)
			return nil
		}
		if _, err := cas.SizeTx(v.tx, p.Blob); err != nil {
			v.problem("pin "+p.Blob.String(), "%v", err)
		}
		return nil
	})
}

// values has the blob store check its own values (deep, re-hashing
// each) and packs, and recounts the stats counters: the values' totals
// plus the manifests.
func (v *verifier) values() error {
	opts := cas.CheckOptions{Deep: v.opts.Deep, Tick: v.tick,
		Problem: func(subject, detail string) { v.problem(subject, "%s", detail) }}
	t, err := cas.CheckTx(v.tx, opts)
	if err != nil {
		return err
	}
	blobs, chunks, logical, stored := t.Blobs, t.Chunks, t.Logical, t.Stored
	v.rep.Blobs, v.rep.Chunks = blobs, chunks
	manifests, err := db.Bucket(v.tx, db.BucketManifests)
	if err != nil {
		return err
	}
	var manifestBytes, manifestStored int64
	if err := manifests.ForEach(func(k, val []byte) error {
		manifestStored += int64(len(val))
		raw, err := cas.DecodeManifest(manifest.Digest(k), val)
		manifestBytes += int64(len(raw))
		_ = err // reported by images
		return nil
	}); err != nil {
		return err
	}
	for _, c := range []struct {
		name string
		want int64
	}{
		{db.CounterBlobs, blobs},
		{db.CounterChunks, chunks},
		{db.CounterImages, v.rep.Images},
		{db.CounterLogical, logical + manifestBytes},
		{db.CounterStored, stored + manifestStored},
	} {
		if got := db.Counter(v.tx, c.name); got != c.want {
			v.problem("stats", "counter %s is %d, the store holds %d", c.name, got, c.want)
		}
	}
	return nil
}
