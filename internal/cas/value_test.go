package cas

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
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
	f.Fuzz(func(t *testing.T, value, content []byte) {
		d := manifest.Sum(content)
		h, err := parseValue(d, value)
		if err != nil {
			return
		}
		if h.format == formatChunks {
			_, _ = parseChunkList(d, h)
			return
		}
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
