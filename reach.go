package pf

import (
	"context"
	"fmt"

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
}

func (r *reacher) reach(m *manifest.Manifest, read func(manifest.Digest) ([]byte, error), visit func(d manifest.Digest, where string) error) error {
	seen := map[manifest.Digest]bool{}
	if r.expanded == nil {
		r.expanded = map[refKey]bool{}
	}
	refs, expanded := r.refs, r.expanded
	var walk func(d manifest.Digest, layer, where string) error
	walk = func(d manifest.Digest, layer, where string) error {
		if !seen[d] {
			seen[d] = true
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
		if len(named) > 2*len(seen) {
			// Room for what a tree of 100,000 files names at once,
			// not grown step by step.
			grown := make(map[manifest.Digest]bool, len(seen)+len(named))
			for k, v := range seen {
				grown[k] = v
			}
			seen = grown
		}
		namedBy := "named by " + layer + " " + d.Short()
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

// reachedTx lists the blobs that image id, whose manifest is m, reaches
// in tx, each once, in the order of reach, with their logical sizes. A
// blob that is missing fails it with an error wrapping ErrNotFound that
// names where the image reaches it. known, when not nil, gives the sizes
// of blobs the caller knows stored in tx (what a snapshot's lease put),
// which need no lookup. hint is how many blobs the caller expects, for
// room made once.
func (s *Store) reachedTx(ctx context.Context, tx *bolt.Tx, id manifest.Digest, m *manifest.Manifest, known func(manifest.Digest) (int64, bool), hint int) ([]Blob, error) {
	out := make([]Blob, 0, hint)
	err := reach(m, s.refs,
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
				size, err = cas.SizeTx(tx, d)
			}
			if err != nil {
				return fmt.Errorf("image %s: %s: %w", id.Short(), where, err)
			}
			out = append(out, Blob{d, size})
			return nil
		})
	return out, err
}
