package cas

import (
	"encoding/binary"
	"fmt"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
)

// Value formats: the first byte of every stored value.
const (
	formatRaw    byte = 0x00
	formatZstd   byte = 0x01
	formatChunks byte = 0x02
	// formatManifest is a manifest's bytes with their digests packed,
	// compressed against the manifest dictionary (manifest.go); only
	// manifests/ holds it.
	formatManifest byte = 0x03
)

const (
	// InlineMax is the largest blob stored as one value; larger blobs are
	// chunked. Together with chunkMax it sets what one streamed put or get
	// holds in memory at a time.
	InlineMax = 1 << 20
	// chunkMin and chunkMax bound the chunker's cuts (1 MiB on average);
	// chunkMax also bounds what one decode may allocate.
	chunkMin = 512 << 10
	chunkMax = 4 << 20
	// chunkRefSize is a chunk list entry's upper bound: digest plus uvarint.
	chunkRefSize = 32 + binary.MaxVarintLen64
)

// header is a value's parsed first bytes.
type header struct {
	format  byte
	size    int64 // logical size
	payload []byte
}

func parseValue(d manifest.Digest, v []byte) (header, error) {
	if len(v) < 2 {
		return header{}, corrupt(d, "value of %d bytes", len(v))
	}
	size, n := binary.Uvarint(v[1:])
	if n <= 0 || size > 1<<50 {
		return header{}, corrupt(d, "bad size field")
	}
	h := header{format: v[0], size: int64(size), payload: v[1+n:]}
	switch h.format {
	case formatRaw:
		if int64(len(h.payload)) != h.size {
			return header{}, corrupt(d, "raw value holds %d bytes, header says %d", len(h.payload), h.size)
		}
	case formatZstd, formatManifest:
		if h.size > chunkMax {
			return header{}, corrupt(d, "zstd value claims %d bytes, more than one value may hold", h.size)
		}
	case formatChunks:
	default:
		return header{}, corrupt(d, "unknown value format 0x%02x", h.format)
	}
	return h, nil
}

func appendHeader(dst []byte, format byte, size int) []byte {
	dst = append(dst, format)
	return binary.AppendUvarint(dst, uint64(size))
}

// chunkRef is one entry of a chunk list.
type chunkRef struct {
	digest manifest.Digest
	size   int64
}

func encodeChunkList(size int64, refs []chunkRef) []byte {
	v := appendHeader(make([]byte, 0, 12+len(refs)*chunkRefSize), formatChunks, int(size))
	for _, r := range refs {
		v = append(v, r.digest[:]...)
		v = binary.AppendUvarint(v, uint64(r.size))
	}
	return v
}

func parseChunkList(d manifest.Digest, h header) ([]chunkRef, error) {
	var refs []chunkRef
	var total int64
	p := h.payload
	for len(p) > 0 {
		if len(p) < 33 {
			return nil, corrupt(d, "chunk list ends inside an entry")
		}
		var r chunkRef
		copy(r.digest[:], p[:32])
		size, n := binary.Uvarint(p[32:])
		if n <= 0 || size == 0 || size > chunkMax {
			return nil, corrupt(d, "chunk %d has a bad size", len(refs))
		}
		r.size = int64(size)
		if r.digest == d {
			return nil, corrupt(d, "chunk list names the blob itself")
		}
		total += r.size
		refs = append(refs, r)
		p = p[32+n:]
	}
	if total != h.size {
		return nil, corrupt(d, "chunks add up to %d bytes, header says %d", total, h.size)
	}
	return refs, nil
}

func corrupt(d manifest.Digest, format string, args ...any) error {
	return fmt.Errorf("blob %s: %w: %s", d, db.ErrCorrupt, fmt.Sprintf(format, args...))
}
