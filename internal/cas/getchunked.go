package cas

import (
	"cmp"
	"context"
	"crypto/sha256"
	"slices"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// getChunked reads a chunked blob whole: size bytes, in the chunks refs
// lists (parsed by parseChunkList, so their sizes add up to size). Each
// chunk is decoded straight into its place in the result and checked
// against its own digest, and the chunks are spread over the cores: a
// chunk is keyed by its SHA-256, so the chunks of one blob can be proven
// at once, where the blob's own digest is one SHA-256 over every byte, on
// one core. A byte flipped anywhere is still refused: in a chunk, by that
// chunk's digest; in the chunk list, by the chunk it then fails to name
// or the sizes that no longer add up (parseChunkList, chunkValue). The
// list itself was cut from the bytes whose hash is the blob's digest when
// they were put.
func (s *Bolt) getChunked(ctx context.Context, d manifest.Digest, refs []chunkRef, size int64) ([]byte, error) {
	out := make([]byte, size)
	starts := make([]int64, len(refs))
	var at int64
	for i, r := range refs {
		starts[i], at = at, at+r.size
	}
	// Largest first, so that the cores end together rather than one
	// waiting on a large chunk taken last.
	order := make([]int, len(refs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(refs[b].size, refs[a].size) })
	if err := parallel(ctx, len(order), func(k int) error {
		i := order[k]
		end := starts[i] + refs[i].size
		return s.readChunkInto(out[starts[i]:end:end], d, i, refs[i])
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// readChunkInto decodes chunk i of blob d into dst, which is the chunk's
// size and capacity (a frame that decodes longer cannot write into the
// next chunk's place), and checks dst against the chunk's digest.
func (s *Bolt) readChunkInto(dst []byte, d manifest.Digest, i int, r chunkRef) error {
	h := sha256.New()
	err := s.db.View(func(tx *bolt.Tx) error {
		chunks, err := db.Bucket(tx, db.BucketChunks)
		if err != nil {
			return err
		}
		v, err := chunkValue(chunks, d, i, r)
		if err != nil {
			return err
		}
		base, mapped := s.mapBase(), uintptr(tx.Size())
		if v.format == formatRaw {
			// With pread, straight from the page cache: copied out of the
			// map, every page of the chunk would be faulted in and then
			// dropped again (dropMapped), and each drop stops the other
			// core to flush its TLB, which on this project's
			// (paravirtualized) machines cost more than the copy.
			s.appendMapped(dst[:0], v.payload, base, mapped)
			h.Write(dst)
			return nil
		}
		b, err := appendDecoded(dst[:0], r.digest, v)
		if err != nil {
			return err
		}
		if &b[0] != &dst[0] {
			copy(dst, b)
		}
		h.Write(dst)
		dropMapped(v.payload, base, mapped)
		return nil
	})
	if err != nil {
		return err
	}
	var got manifest.Digest
	if h.Sum(got[:0]); got != r.digest {
		return corrupt(d, "chunk %d (%s) hashes to %s", i, r.digest, got)
	}
	return nil
}
