package pf

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// reach visits every digest an image reaches, each once, in a fixed order:
// its layers, then what the layers that name further blobs name (fs.tree.v1
// entries, cache pages, the ledgers a merged ledger points at). visit sees
// a digest before read is asked for its bytes, so a missing blob is reported
// as missing, not as unreadable. where says how the digest was reached.
// refs, when not nil, remembers what blobs name across calls.
func reach(m *manifest.Manifest, refs *refCache, read func(manifest.Digest) ([]byte, error), visit func(d manifest.Digest, where string) error) error {
	return (&reacher{refs: refs}).reach(m, read, visit)
}

// A reacher walks many images. Each structured blob (a tree, a cache page
// list, a ledger) it expands once for all of them: what it names was
// visited then, so an image that shares it visits only the blob itself.
type reacher struct {
	refs     *refCache
	expanded map[refKey]bool
	// visitAll, when set, is called instead of visit with the digests
	// that a blob names, those not visited yet, in order, when it names
	// nothing that reach expands in turn (a tree's files): it must do
	// what visit would do with each, in that order.
	visitAll func(ds []manifest.Digest, where string) error
	// hint is how many digests an image may reach, for room made once.
	hint int
}

// seenRoom bounds the room a reach makes at once for the digests it has
// seen.
const seenRoom = 1 << 10

func (r *reacher) reach(m *manifest.Manifest, read func(manifest.Digest) ([]byte, error), visit func(d manifest.Digest, where string) error) error {
	// Room made once for up to seenRoom digests: a tree's files, the
	// most an image names, are kept whole and not in the map.
	seen := &seenSet{set: make(map[manifest.Digest]bool, min(r.hint, seenRoom))}
	if r.expanded == nil {
		r.expanded = map[refKey]bool{}
	}
	refs, expanded := r.refs, r.expanded
	var walk func(d manifest.Digest, layer, where string) error
	walk = func(d manifest.Digest, layer, where string) error {
		if !seen.has(d) {
			seen.set[d] = true
			if err := visit(d, where); err != nil {
				return err
			}
		}
		if layer == "" || !manifest.NeedsContent(layer) || expanded[refKey{layer, d}] {
			return nil
		}
		expanded[refKey{layer, d}] = true
		parse := func() ([]manifest.Digest, error) {
			b, err := read(d)
			if err != nil {
				return nil, fmt.Errorf("read %s %s: %w", layer, d, err)
			}
			named, err := manifest.Refs(layer, b)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", layer, d, err)
			}
			return named, nil
		}
		var named []manifest.Digest
		var err error
		if refs != nil {
			named, err = refs.get(layer, d, parse)
		} else {
			named, err = parse()
		}
		if err != nil {
			return err
		}
		next := ""
		if layer == "effects.ledger" {
			next = layer // a merged ledger's parents are ledgers too
		}
		namedBy := "named by " + layer + " " + d.Short()
		if next == "" && r.visitAll != nil {
			// named holds each digest once (manifest.Refs): it is kept
			// whole as seen, not put in the set digest by digest (a
			// map insert for each of a tree's 11,500 files, most of
			// what a served turn's commit spent reaching its image).
			fresh := named
			for i, n := range named {
				if seen.has(n) {
					fresh = slices.Clip(named[:i])
					for _, n := range named[i+1:] {
						if !seen.has(n) {
							fresh = append(fresh, n)
						}
					}
					break
				}
			}
			seen.addWhole(fresh)
			return r.visitAll(fresh, namedBy)
		}
		if len(named) > 2*len(seen.set) {
			// Room for what a tree of 100,000 files names at once,
			// not grown step by step.
			grown := make(map[manifest.Digest]bool, len(seen.set)+len(named))
			maps.Copy(grown, seen.set)
			seen.set = grown
		}
		for _, r := range named {
			if err := walk(r, next, namedBy); err != nil {
				return err
			}
		}
		return nil
	}
	for _, l := range m.Layers() {
		if err := walk(l.Digest, l.Name, l.Name); err != nil {
			return err
		}
	}
	return nil
}

// A seenSet is the digests a reach visited: those in set, and the lists
// in whole, each visited at once (reacher.visitAll) and kept as given.
// A later question of a digest reads the lists through, until they have
// been read through more often than making them a set would cost.
type seenSet struct {
	set     map[manifest.Digest]bool
	whole   [][]manifest.Digest
	inWhole int // how many digests whole holds
	scanned int // how many digests has read through whole
}

func (s *seenSet) has(d manifest.Digest) bool {
	if s.set[d] {
		return true
	}
	if s.inWhole == 0 {
		return false
	}
	if s.scanned > 4*s.inWhole {
		// Asked often: the set, made once, answers the rest.
		for _, ds := range s.whole {
			for _, d := range ds {
				s.set[d] = true
			}
		}
		s.whole, s.inWhole = nil, 0
		return s.set[d]
	}
	s.scanned += s.inWhole
	for _, ds := range s.whole {
		if slices.Contains(ds, d) {
			return true
		}
	}
	return false
}

// addWhole notes ds, which holds each digest once and none seen yet, as
// seen. ds must not change after.
func (s *seenSet) addWhole(ds []manifest.Digest) {
	if len(ds) > 0 {
		s.whole = append(s.whole, ds)
		s.inWhole += len(ds)
	}
}

// reachedTx lists the blobs that image id, whose manifest is m, reaches
// in tx, each once, in the order of reach, with their logical sizes. A
// blob that is missing fails it with an error wrapping ErrNotFound that
// names where the image reaches it. known, when not nil, gives the sizes
// of blobs the caller knows stored in tx (what a snapshot's lease put),
// which need no lookup. hint is how many blobs the caller expects, for
// room made once.
func (s *Store) reachedTx(ctx context.Context, tx *bolt.Tx, id manifest.Digest, m *manifest.Manifest, known func(manifest.Digest) (int64, bool), hint int) ([]Blob, error) {
	out := make([]Blob, 0, hint)
	sizeOf := func(d manifest.Digest, where string) (int64, error) {
		size, err := cas.SizeTx(tx, d)
		if err != nil {
			return 0, fmt.Errorf("image %s: %s: %w", id.Short(), where, err)
		}
		return size, nil
	}
	r := &reacher{refs: s.refs, hint: hint}
	r.visitAll = func(ds []manifest.Digest, where string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		start := len(out)
		out = slices.Grow(out, len(ds))[:start+len(ds)]
		blobs := out[start:]
		knownSizes(blobs, ds, known)
		for i := range blobs {
			if blobs[i].Size < 0 {
				size, err := sizeOf(ds[i], where)
				if err != nil {
					out = out[:start+i]
					return err
				}
				blobs[i].Size = size
			}
		}
		return nil
	}
	err := r.reach(m,
		func(d manifest.Digest) ([]byte, error) { return cas.ReadTx(tx, d) },
		func(d manifest.Digest, where string) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			size, ok := int64(0), false
			if known != nil {
				size, ok = known(d)
			}
			var err error
			if !ok {
				size, err = sizeOf(d, where)
			}
			if err != nil {
				return err
			}
			out = append(out, Blob{d, size})
			return nil
		})
	return out, err
}

// knownSizesSplit is the fewest digests knownSizes gives each core: below
// it, a goroutine costs more than the lookups it takes over.
const knownSizesSplit = 2048

// knownSizes sets blobs[i] to ds[i] with the size known gives it, or -1
// when known does not know it (or is nil). A tree of 11,500 files names
// as many blobs, and known looks each up in maps of that many entries,
// long out of the cache when a commit comes: one miss or two a lookup,
// most of a served snapshot's commit. known is safe for concurrent use
// (pendingCommit.knownIn), so the lookups go on every core.
func knownSizes(blobs []Blob, ds []manifest.Digest, known func(manifest.Digest) (int64, bool)) {
	lookup := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			blobs[i] = Blob{ds[i], -1}
			if known != nil {
				if size, ok := known(ds[i]); ok {
					blobs[i].Size = size
				}
			}
		}
	}
	parts := min(runtime.GOMAXPROCS(0), len(ds)/knownSizesSplit)
	if known == nil || parts < 2 {
		lookup(0, len(ds))
		return
	}
	var wg sync.WaitGroup
	per := (len(ds) + parts - 1) / parts
	for lo := per; lo < len(ds); lo += per {
		wg.Go(func() { lookup(lo, min(lo+per, len(ds))) })
	}
	lookup(0, per)
	wg.Wait()
}
