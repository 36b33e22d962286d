package cas

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/processfork/pf/manifest"
)

// A listingBase is a listing the store cut (PutListing) with its chunks,
// kept for the next listing's cut: an agent's turn edits ten of a tree's
// 12,800 entries, and FastCDC is content-defined, so every chunk of the
// next listing away from those edits is a chunk of this one. Cutting and
// hashing the 1.7 MB again was most of a served turn's put of its tree;
// a chunk found here costs a comparison of its bytes instead.
type listingBase struct {
	data    []byte // never modified: PutListing's caller gives it up
	ends    []int  // chunk i is data[ends[i-1]:ends[i]] (ends[-1] is 0)
	digests []manifest.Digest
	// starts finds the chunk that begins with a given listingKey bytes.
	starts map[listingKey]int32
}

// listingKeyLen bytes from where a chunk begins find it among the base's:
// a chunk (4 KiB at least, but for the last) of a listing of JSON
// objects, each with its own path, rarely begins as another does, and a
// key shared is only a chunk not found.
const listingKeyLen = 32

type listingKey [listingKeyLen]byte

// newListingBase keeps b, cut into chunks (with their digests), as the
// base of the next cut.
func newListingBase(b []byte, chunks []pendingValue) *listingBase {
	base := &listingBase{
		data:    b,
		ends:    make([]int, len(chunks)),
		digests: make([]manifest.Digest, len(chunks)),
		starts:  make(map[listingKey]int32, len(chunks)),
	}
	at := 0
	for i, c := range chunks {
		if len(c.data) >= listingKeyLen {
			k := listingKey(b[at : at+listingKeyLen])
			if _, ok := base.starts[k]; !ok {
				base.starts[k] = int32(i)
			}
		}
		at += len(c.data)
		base.ends[i], base.digests[i] = at, c.digest
	}
	return base
}

// chunkAt returns the chunk that a cut of b from at (a cut point) would
// give, and its digest, when the base has it: a chunk of the same bytes
// whose cut the cutter would make again there. FastCDC cuts a chunk
// where the rolling hash of its bytes, and of the byte after it, first
// matches (or at the maximum size, or at the end of the data), whatever
// came before its start. So a chunk of the base is cut again at at when
// b holds its bytes there, followed by the byte that followed it, or by
// the end of b. The last chunk of the base ended with the data, not at a
// match: it is cut again only as b's last.
func (base *listingBase) chunkAt(b []byte, at int) ([]byte, manifest.Digest, bool) {
	if base == nil || len(b)-at < listingKeyLen {
		return nil, manifest.Digest{}, false
	}
	i, ok := base.starts[listingKey(b[at:at+listingKeyLen])]
	if !ok {
		return nil, manifest.Digest{}, false
	}
	start, end := 0, base.ends[i]
	if i > 0 {
		start = base.ends[i-1]
	}
	n := end - start
	if len(b)-at < n || !bytes.Equal(b[at:at+n], base.data[start:end]) {
		return nil, manifest.Digest{}, false
	}
	switch {
	case at+n == len(b):
		// The cutter, given these n bytes alone, finds no match before
		// their end (the base's found none, or found it at their end)
		// and cuts there.
	case end == len(base.data) || b[at+n] != base.data[end]:
		return nil, manifest.Digest{}, false
	}
	return b[at : at+n : at+n], base.digests[i], true
}

// cutListing cuts the listing b into the chunks putChunked would cut,
// from the bytes in hand, and takes each one's digest. The chunks that
// base, the last listing cut (nil: none), has are taken from it; the
// others are cut and hashed.
func cutListing(ctx context.Context, b []byte, base *listingBase) ([]pendingValue, error) {
	ch, release, err := newChunker(bytes.NewReader(b), listingCuts)
	if err != nil {
		return nil, err
	}
	defer release()
	var chunks []pendingValue
	var toHash []int
	// cutting says the chunker stands at at: it cut the chunk before.
	cutting := true
	for at := 0; at < len(b); {
		if data, d, ok := base.chunkAt(b, at); ok {
			chunks = append(chunks, pendingValue{digest: d, data: data})
			at += len(data)
			cutting = false
			continue
		}
		if !cutting {
			ch.Reset(bytes.NewReader(b[at:]))
			cutting = true
		}
		c, err := ch.Next()
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("cut listing: %w", err)
		}
		if len(c) > 0 {
			toHash = append(toHash, len(chunks))
			chunks = append(chunks, pendingValue{data: b[at : at+len(c) : at+len(c)]})
			at += len(c)
		}
		if err == io.EOF {
			break
		}
	}
	if len(chunks) == 1 {
		return chunks, nil
	}
	return chunks, parallel(ctx, len(toHash), func(i int) error {
		c := &chunks[toHash[i]]
		c.digest = manifest.Sum(c.data)
		return nil
	})
}
