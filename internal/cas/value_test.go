package cas

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

func TestEncodeValue_RoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		data   []byte
		format byte
	}{
		{"empty", nil, formatRaw},
		{"tiny", []byte("x"), formatRaw},
		{"jsonl", bytes.Repeat([]byte(`{"role":"user","content":"again"}`+"\n"), 500), formatZstd},
		{"random", payload(1, 64<<10), formatRaw},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := manifest.Sum(tt.data)
			v := encodeValue(DefaultLevel, tt.data)
			h, err := parseValue(d, v)
			if err != nil {
				t.Fatal(err)
			}
			if h.format != tt.format {
				t.Fatalf("format 0x%02x, want 0x%02x", h.format, tt.format)
			}
			got, err := decodeValue(d, h)
			if err != nil || !bytes.Equal(got, tt.data) {
				t.Fatalf("decode: %v", err)
			}
			// A decoded value's buffer is not cleared first: the room the
			// decoder had past the value must not be the caller's.
			if h.format == formatZstd && cap(got) != len(got) {
				t.Fatalf("decoded %d bytes into a result of capacity %d", len(got), cap(got))
			}
		})
	}
}

func TestDecodeValue_Refuses(t *testing.T) {
	data := bytes.Repeat([]byte("abcdefgh"), 4096)
	d := manifest.Sum(data)
	good := encodeValue(DefaultLevel, data)
	enc, _ := zstd.NewWriter(nil)
	bomb := enc.EncodeAll(make([]byte, chunkMax*2), nil)
	tests := []struct {
		name  string
		value []byte
	}{
		{"empty value", nil},
		{"unknown format", append([]byte{0x7f}, good[1:]...)},
		{"raw shorter than header", appendHeader(nil, formatRaw, 10)},
		{"zstd claims too much", append(appendHeader(nil, formatZstd, chunkMax+1), good[3:]...)},
		// A frame that decodes past the recorded size must not be
		// allowed to allocate what it claims.
		{"zstd bomb", append(appendHeader(nil, formatZstd, 100), bomb...)},
		{"wrong content", encodeValue(DefaultLevel, []byte("other bytes entirely, long enough to compress? no"))},
		{"truncated zstd", good[:len(good)/2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parseValue(d, tt.value)
			if err == nil {
				_, err = decodeValue(d, h)
			}
			if !errors.Is(err, db.ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
			if !bytes.Contains([]byte(err.Error()), []byte(d.Hex())) {
				t.Fatalf("error %q does not name the blob", err)
			}
		})
	}
}

func TestParseChunkList_Refuses(t *testing.T) {
	d := manifest.Sum([]byte("blob"))
	c := manifest.Sum([]byte("chunk"))
	tests := []struct {
		name  string
		value []byte
	}{
		{"names itself", encodeChunkList(10, []chunkRef{{d, 10}})},
		{"sizes do not add up", encodeChunkList(11, []chunkRef{{c, 10}})},
		{"cut inside an entry", encodeChunkList(10, []chunkRef{{c, 10}})[:20]},
		{"zero-size chunk", encodeChunkList(0, []chunkRef{{c, 0}})},
		{"chunk over the maximum", encodeChunkList(chunkMax+1, []chunkRef{{c, chunkMax + 1}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parseValue(d, tt.value)
			if err == nil {
				_, err = parseChunkList(d, h)
			}
			if !errors.Is(err, db.ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
		})
	}
}

// FuzzValue feeds arbitrary stored values to the readers: they must refuse
// or return bytes that hash to the digest, never panic or over-allocate.
func FuzzValue(f *testing.F) {
	f.Add(encodeValue(DefaultLevel, []byte("hello")), []byte("hello"))
	f.Add(encodeValue(DefaultLevel, bytes.Repeat([]byte("ab"), 1000)), bytes.Repeat([]byte("ab"), 1000))
	f.Add(encodeChunkList(3, []chunkRef{{manifest.Sum([]byte("x")), 3}}), []byte("xyz"))
	m := []byte(`{"model":{"base":"sha256:` + manifest.Sum(nil).Hex() + `"}}`)
	f.Add(EncodeManifest(m), m)
	f.Fuzz(func(t *testing.T, value, content []byte) {
		d := manifest.Sum(content)
		// As a manifests/ value, packed or not.
		if got, err := DecodeManifest(d, value); err == nil && !bytes.Equal(got, content) {
			t.Fatalf("manifest decoded to %d bytes that are not the content", len(got))
		}
		h, err := parseValue(d, value)
		if err != nil {
			return
		}
		if h.format == formatChunks {
			_, _ = parseChunkList(d, h)
			return
		}
		h.payload = bytes.Clone(h.payload)
		got, err := decodeValue(d, h)
		if err == nil && !bytes.Equal(got, content) {
			t.Fatalf("decoded %d bytes that are not the content", len(got))
		}
	})
}

func payload(seed uint64, n int) []byte {
	b := make([]byte, n)
	x := seed
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

func TestLooksRandom(t *testing.T) {
	jsonl := bytes.Repeat([]byte(`{"role":"tool","content":"ls -la returned 14 entries"}`+"\n"), 400)
	fp16 := make([]byte, 16<<10)
	for i := 0; i+1 < len(fp16); i += 2 {
		// Small-magnitude halves: a sign bit, a narrow exponent, noise.
		r := payload(uint64(i), 1)[0]
		fp16[i], fp16[i+1] = r, 0x30|r&0x83
	}
	sevenBits := payload(25, 16<<10)
	for i := range sevenBits {
		sevenBits[i] &= 0x7f
	}
	tests := []struct {
		name string
		data []byte
		want bool
	}{
		{"random", payload(21, 64<<10), true},
		{"random cache page", payload(23, 16<<10), true}, // sampled: 1 KiB
		{"random 1 KiB", payload(24, 1<<10), true},       // sampled whole
		{"json lines", jsonl, false},
		{"json lines, 1 KiB", jsonl[:1<<10], false},
		{"zeros", make([]byte, 64<<10), false},
		{"fp16-like", fp16, false},
		{"short random", payload(22, 1000), false}, // too short to sample: zstd decides
		// Half the byte values, evenly: 7 bits, which zstd's entropy stage
		// would save one part in eight of.
		{"seven bits", sevenBits, false},
	}
	for _, tt := range tests {
		if got := looksRandom(tt.data); got != tt.want {
			t.Errorf("%s: looksRandom = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// BenchmarkLooksRandom is the check's cost on the sizes of a file, a
// cache page and a chunk.
func BenchmarkLooksRandom(b *testing.B) {
	for _, n := range []int{4 << 10, 16 << 10, 1 << 20} {
		data := payload(5, n)
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			for range b.N {
				looksRandom(data)
			}
		})
	}
}

// Every manifest value written since schema 8 needs the dictionary's exact
// bytes to be read: this digest must never change.
func TestManifestDict_Unchanged(t *testing.T) {
	const want = "3a85e04cdb1e96238f51d18b25464359c01516d2fe08ba62013113d408978cc3"
	if got := manifest.Sum(manifestDict()).Hex(); got != want {
		t.Fatalf("manifestDict hashes to %s, was %s: a changed dictionary makes every manifest written against it unreadable", got, want)
	}
}

// sampleManifest returns the encoded bytes of a manifest of a fixture's
// shape: an agent, a parent, and each of its eight layer digests.
func sampleManifest(tb testing.TB) []byte {
	m := manifest.New(manifest.Agent{Kind: "claude-code", Version: "2.1.0", Fingerprint: "build-7"},
		time.Date(2026, 12, 3, 10, 4, 5, 123456789, time.UTC), manifest.Sum([]byte("parent")))
	for i, d := range []*manifest.Digest{&m.Model.Base, &m.Model.Diff, &m.Cache.Manifest, &m.World.FS, &m.World.Env,
		&m.World.Procs, &m.Effects.Ledger, &m.Trace.Messages} {
		*d = manifest.Sum([]byte{byte(i)})
	}
	raw, err := m.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// A manifest is stored packed against the dictionary, smaller than plain
// zstd, and reads back; one stored before (plain zstd) still reads.
func TestEncodeManifest_Packed(t *testing.T) {
	raw := sampleManifest(t)
	id := manifest.Sum(raw)
	v := EncodeManifest(raw)
	h, err := parseValue(id, v)
	var fh zstd.Header
	if err != nil || h.format != formatManifest || fh.Decode(h.payload) != nil || fh.DictionaryID != manifestDictID {
		t.Fatalf("manifest value: format 0x%02x, frame dictionary %d (%v); want a packed manifest against %d", v[0], fh.DictionaryID, err, manifestDictID)
	}
	plain := encodeValue(DefaultLevel, raw)
	if len(v) >= len(plain)*3/4 {
		t.Errorf("packed %d bytes, plain zstd %d: packing should save a quarter", len(v), len(plain))
	}
	t.Logf("%d bytes of manifest: %d stored packed, %d in plain zstd", len(raw), len(v), len(plain))
	for name, value := range map[string][]byte{"packed": v, "plain zstd, before schema 8": plain} {
		got, err := DecodeManifest(id, value)
		if err != nil || !bytes.Equal(got, raw) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A flipped byte anywhere in the frame is refused, or (in a header
	// bit the decoder does not need) makes no difference: the bytes
	// returned are the manifest's or none.
	for i := len(v) - len(h.payload); i < len(v); i++ {
		bad := bytes.Clone(v)
		bad[i] ^= 1
		if got, err := DecodeManifest(id, bad); err == nil && !bytes.Equal(got, raw) || err != nil && !errors.Is(err, db.ErrCorrupt) {
			t.Fatalf("byte %d flipped: %v (%d bytes), want ErrCorrupt or the manifest", i, err, len(got))
		}
	}
}

// The manifest encoder leaves its literals without entropy coding, which
// must cost no bytes: a packed manifest's literals are digests and short
// strings, which a Huffman table does not shrink.
func TestEncodeManifest_NoLargerThanEntropyCoded(t *testing.T) {
	coded, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(DefaultLevel), zstd.WithWindowSize(manifestWindow),
		zstd.WithEncoderCRC(false), zstd.WithEncoderDictRaw(manifestDictID, manifestDict()))
	if err != nil {
		t.Fatal(err)
	}
	defer coded.Close()
	for i := range 200 {
		d := func(s string) manifest.Digest { return manifest.Sum(fmt.Appendf(nil, "%s%d", s, i)) }
		m := manifest.New(manifest.Agent{Kind: "claude-code", Version: fmt.Sprintf("2.%d.0", i), Fingerprint: "build-7"},
			time.Unix(int64(1_780_000_000+i*37), int64(i*7919)).UTC(), d("parent"))
		for j, p := range []*manifest.Digest{&m.Model.Base, &m.Model.Diff, &m.Cache.Manifest, &m.World.FS, &m.World.Env,
			&m.World.Procs, &m.Effects.Ledger, &m.Trace.Messages} {
			*p = d(fmt.Sprint("layer", j))
		}
		raw, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		h := appendHeader(nil, formatManifest, len(raw))
		if got, want := len(EncodeManifest(raw)), len(coded.EncodeAll(packDigests(raw), h)); got > want {
			t.Fatalf("manifest %d: %d bytes stored, %d with its literals entropy coded", i, got, want)
		}
	}
}

// Packing keeps any bytes: text that only looks like a digest, upper-case
// hex, a prefix at the very end.
func TestPackDigests_RoundTrip(t *testing.T) {
	hex64 := strings.Repeat("0123456789abcdef", 4)
	for _, s := range []string{"", "sha256:", "sha256:" + hex64, `"sha256:` + hex64 + `"`, "sha256:" + strings.ToUpper(hex64),
		"sha256:" + hex64[:63], "xsha256:sha256:" + hex64 + "sha256:" + hex64 + "!", "sha256:" + hex64 + hex64} {
		p := packDigests([]byte(s))
		got, ok := unpackDigests(nil, p)
		if !ok || string(got) != s {
			t.Errorf("%q packs to %q, unpacks to %q (%v)", s, p, got, ok)
		}
	}
	if _, ok := unpackDigests(nil, []byte("a\x00short")); ok {
		t.Error("a zero byte without a whole digest unpacked")
	}
}

// A put at SpeedFastest stores a compressible value shorter than
// fastestMin raw, which compaction then compresses; at another level, or
// from fastestMin up, it compresses it.
func TestBolt_Put_SmallValuesRawAtFastest(t *testing.T) {
	tests := []struct {
		name   string
		level  zstd.EncoderLevel
		size   int
		format byte
		// compacted is the format after Recompress at CompactLevel.
		compacted byte
	}{
		{"fastest, 1 KiB", zstd.SpeedFastest, 1 << 10, formatRaw, formatZstd},
		{"fastest, just under fastestMin", zstd.SpeedFastest, fastestMin - 1, formatRaw, formatZstd},
		{"fastest, fastestMin", zstd.SpeedFastest, fastestMin, formatZstd, formatZstd},
		{"fastest, 16 KiB", zstd.SpeedFastest, 16 << 10, formatZstd, formatZstd},
		{"default level, 1 KiB", zstd.SpeedDefault, 1 << 10, formatZstd, formatZstd},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, s := openStore(t, "", Options{Level: tt.level})
			b := sourceText(i, tt.size)
			dg, err := s.PutBytes(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			format := func() byte {
				var f byte
				if err := d.View(func(tx *bolt.Tx) error {
					h, _, err := lookup(tx, dg)
					f = h.format
					return err
				}); err != nil {
					t.Fatal(err)
				}
				return f
			}
			if got := format(); got != tt.format {
				t.Fatalf("stored as format 0x%02x, want 0x%02x", got, tt.format)
			}
			if _, err := s.Recompress(ctx, CompactLevel); err != nil {
				t.Fatal(err)
			}
			if got := format(); got != tt.compacted {
				t.Fatalf("after Recompress: format 0x%02x, want 0x%02x", got, tt.compacted)
			}
			if got, err := s.Get(ctx, dg); err != nil || !bytes.Equal(got, b) {
				t.Fatalf("Get: %d bytes of %d, %v", len(got), len(b), err)
			}
		})
	}
}
