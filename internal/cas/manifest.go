package cas

import (
	"bytes"
	"encoding/hex"
	"runtime"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/processfork/pf/manifest"
)

// How manifests/ keeps a manifest's exact bytes. A manifest is about 1 KiB
// of JSON, more than half of it digests in hex, the rest keys and values
// that repeat from image to image. On its own zstd finds little in it to
// match (a typical one, 1,025 bytes, takes 659), and a history listing
// pays the decoding of every manifest it lists, where building the tables
// of a frame that small costs more than the rest.
//
// So each "sha256:<64 hex digits>" is packed into a zero byte and the
// digest's 32 bytes (JSON text never holds a zero byte), and the result is
// compressed against a dictionary of a manifest's keys: the same manifest
// then takes 406 bytes, and decodes about three times as fast, since the
// packed digests go as raw literals with no table to build.

// digestPrefix is what a packed digest stands for, before its hex.
const digestPrefix = "sha256:"

// manifestDictID names the dictionary in the header of every frame
// compressed against it; it lies in the range zstd leaves to private
// dictionaries.
const manifestDictID = 0x70660001

// manifestSkeleton is the text the dictionary is made from: a manifest's
// keys in the order pf and the reference write them, with the values every
// manifest shares, and zero digests. It must never change: every manifest
// value written since schema 8 needs the dictionary made from these exact
// bytes to be read (TestManifestDict_Unchanged holds it). A better
// dictionary would be a new one with an id of its own, both kept.
const manifestSkeleton = `{"schema_version":1,"media_type":"application/vnd.processfork.image.v1+json",` +
	`"agent":{"kind":"","version":"","fingerprint":""},"model":{"base":"sha256:@","diff":"sha256:@"},` +
	`"cache":{"layout":"paged-batchinvariant-v1","manifest":"sha256:@"},` +
	`"world":{"fs":"sha256:@","env":"sha256:@","procs":"sha256:@"},"effects":{"ledger":"sha256:@"},` +
	`"trace":{"messages":"sha256:@"},"created_at":"2026-01-01T00:00:00.000000000Z","parents":["sha256:@","sha256:@"]}`

// manifestDict is the skeleton packed, each @ a zero digest.
var manifestDict = sync.OnceValue(func() []byte {
	return packDigests([]byte(strings.ReplaceAll(manifestSkeleton, "@", strings.Repeat("0", 64))))
})

// manifestWindow is the manifest encoder's window: far more than a
// manifest. Each encoder keeps a history of its window and a block; with
// zstd's default window (8 MiB) and memory use, a process's first commit
// of an image allocated 8.25 MiB of it, and each later commit 100 KB. The
// values written are the same bytes either way.
const manifestWindow = 64 << 10

// manifestEncoder is the process's one encoder of manifests, built on
// first use: most commands read manifests and write none.
//
// Its literals are never entropy coded: after packing they are the
// digests' bytes and a few short strings, which a Huffman table never
// shrank (200 manifests encoded byte for byte the same without it), but
// building the table to find that out was a third of each encode.
var manifestEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(DefaultLevel),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithWindowSize(manifestWindow),
		zstd.WithLowerEncoderMem(true),
		zstd.WithEncoderCRC(false),
		zstd.WithNoEntropyCompression(true),
		zstd.WithEncoderDictRaw(manifestDictID, manifestDict()))
	if err != nil {
		panic(err)
	}
	return e
})

// EncodeManifest builds the manifests/ value of a manifest's bytes: packed
// and compressed against the dictionary, or, for bytes that hold a zero
// byte (never valid JSON) or would not shrink, a blob's value format.
func EncodeManifest(raw []byte) []byte {
	if bytes.IndexByte(raw, 0) < 0 {
		h := appendHeader(make([]byte, 0, 12+len(raw)/2), formatManifest, len(raw))
		if v := manifestEncoder().EncodeAll(packDigests(raw), h); len(v)-len(h) < len(raw)-len(raw)/16 {
			return v
		}
	}
	return encodeValue(DefaultLevel, raw)
}

// DecodeManifest returns the exact bytes of a manifests/ value, verified
// against the image id.
func DecodeManifest(id manifest.Digest, v []byte) ([]byte, error) {
	h, err := parseValue(id, v)
	if err != nil {
		return nil, err
	}
	switch h.format {
	case formatRaw, formatZstd:
		h.payload = bytes.Clone(h.payload)
		return decodeValue(id, h)
	case formatManifest:
	default:
		return nil, corrupt(id, "value format 0x%02x in manifests/", h.format)
	}
	packed, err := sharedDecoder().DecodeAll(h.payload, make([]byte, 0, h.size))
	if err != nil {
		return nil, corrupt(id, "zstd: %v", err)
	}
	out, ok := unpackDigests(make([]byte, 0, h.size), packed)
	if !ok || int64(len(out)) != h.size {
		return nil, corrupt(id, "packed manifest does not unpack to the recorded %d bytes", h.size)
	}
	if got := manifest.Sum(out); got != id {
		return nil, corrupt(id, "content hashes to %s", got)
	}
	return out, nil
}

// packDigests replaces every "sha256:" followed by 64 lowercase hex digits
// in b with a zero byte and the digest's 32 bytes.
func packDigests(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for {
		i := bytes.Index(b, []byte(digestPrefix))
		if i < 0 {
			return append(out, b...)
		}
		out = append(out, b[:i]...)
		b = b[i:]
		var d manifest.Digest
		if h := b[len(digestPrefix):]; len(h) >= 64 && isLowerHex(h[:64]) {
			hex.Decode(d[:], h[:64])
			out = append(append(out, 0), d[:]...)
			b = h[64:]
			continue
		}
		out = append(out, digestPrefix...)
		b = b[len(digestPrefix):]
	}
}

// unpackDigests appends to dst what packDigests packed into p; ok is false
// when a zero byte is not followed by a whole digest.
func unpackDigests(dst, p []byte) (out []byte, ok bool) {
	for {
		i := bytes.IndexByte(p, 0)
		if i < 0 {
			return append(dst, p...), true
		}
		if len(p) < i+1+32 {
			return dst, false
		}
		dst = append(append(dst, p[:i]...), digestPrefix...)
		dst = hex.AppendEncode(dst, p[i+1:i+33])
		p = p[i+33:]
	}
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
