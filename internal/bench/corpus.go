package bench

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"github.com/processfork/pf/internal/fixture"
	"math"
	"math/rand/v2"
)

// The corpora of the benchmarks: the same bytes for pf and for every peer,
// so that figures can be set side by side. Shared by go test -bench and
// pf-bench.

// A corpus is a long run of one kind of data that the put benchmarks cut
// into blobs. Before each batch, restamp rewrites a few bytes in every 4 KiB
// (a counter, in a place that keeps the data's character), so that every
// blob, and every chunk of a chunked blob, is new to the store: the
// benchmarks time puts, not dedupe.
type corpus struct {
	data   []byte
	stamps []int // offsets of the stamps, ascending
	hex    bool  // stamps are 16 hex digits rather than 8 binary bytes
	gen    uint64
}

// restamp gives the stamps in data[:n] values no earlier call gave.
func (c *corpus) restamp(n int) {
	c.gen++
	for i, off := range c.stamps {
		if off+16 > n {
			break
		}
		v := c.gen<<32 | uint64(i)
		if c.hex {
			var w [8]byte
			binary.BigEndian.PutUint64(w[:], v)
			hex.Encode(c.data[off:off+16], w[:])
		} else {
			binary.LittleEndian.PutUint64(c.data[off:], v)
		}
	}
}

// Corpus kinds.
const (
	kindRandom = "random" // SplitMix64: incompressible, like cache pages
	kindJSONL  = "jsonl"  // agent tool-call logs, like traces and ledgers
	kindFP16   = "fp16"   // half-float tensors, like weights and KV caches
)

func binaryCorpus(b []byte) *corpus {
	c := &corpus{data: b}
	for off := 0; off+16 <= len(b); off += 4 << 10 {
		c.stamps = append(c.stamps, off)
	}
	return c
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	s := fixture.NewSplitMix64(0x5eed)
	s.Fill(b)
	return b
}

// fp16Bytes returns n bytes of IEEE half floats drawn from a normal
// distribution of standard deviation 0.02, as weights and activations are:
// the sign and low mantissa bits are noise, the exponent is not, so zstd's
// entropy coder finds a little (measured: ratio 1.09 at Better, 1.00 at
// Default and Fastest).
func fp16Bytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+2 <= n; i += 2 {
		binary.LittleEndian.PutUint16(b[i:], halfBits(float32(r.NormFloat64()*0.02)))
	}
	return b
}

// halfBits converts f to IEEE 754 binary16, rounding to nearest even.
// Values too large become infinity; NaN is not produced by its callers.
func halfBits(f float32) uint16 {
	bits := math.Float32bits(f)
	sign := uint16(bits>>16) & 0x8000
	exp := int32(bits>>23&0xff) - 127 + 15
	mant := bits & 0x7fffff
	switch {
	case exp >= 31:
		return sign | 0x7c00
	case exp <= 0: // subnormal in half precision, or zero
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - exp)
		h := mant >> shift
		rem, mid := mant&(1<<shift-1), uint32(1)<<(shift-1)
		if rem > mid || rem == mid && h&1 == 1 {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(exp)<<10 | mant>>13
	if rem := mant & 0x1fff; rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
		h++ // a carry into the exponent is still the right rounding
	}
	return sign | uint16(h)
}

// jsonlCorpus returns n bytes of JSON lines in the manner of an agent's
// tool-call log: calls, results with output text, and messages, with the
// ids, paths, numbers and repeated keys such logs have. Each line begins
// with a 16-digit "seq", the stamp.
func jsonlCorpus(n int) *corpus {
	words := []string{
		"the", "test", "fails", "because", "func", "return", "err", "nil", "package", "import",
		"cargo", "build", "warning", "unused", "variable", "error[E0308]:", "mismatched", "types",
		"expected", "found", "struct", "impl", "fn", "let", "mut", "self", "Ok(())", "assert_eq!",
		"src/lib.rs", "src/main.rs", "tests/integration.rs", "Cargo.toml", "README.md", "--release",
		"running", "1", "passed;", "0", "failed;", "finished", "in", "0.42s", "=>", "{", "}", "(", ")",
		"diff", "--git", "a/src/store.rs", "b/src/store.rs", "@@", "-12,7", "+12,9", "+", "-",
		"I", "will", "read", "file", "and", "then", "fix", "it", "now", "Let", "me", "check", "why",
	}
	tools := []string{"bash", "read_file", "write_file", "grep", "edit", "http_get", "cargo_test"}
	r := rand.New(rand.NewPCG(3, 4))
	text := func(max int) []byte {
		var b []byte
		for k := r.IntN(max) + 4; k > 0; k-- {
			b = append(b, words[r.IntN(len(words))]...)
			if r.IntN(12) == 0 {
				b = append(b, `\n`...)
			} else {
				b = append(b, ' ')
			}
		}
		return b
	}
	c := &corpus{data: make([]byte, 0, n+4096), hex: true}
	session := fmt.Sprintf("%08x", r.Uint32())
	for seq := 0; len(c.data) < n; seq++ {
		c.stamps = append(c.stamps, len(c.data)+len(`{"seq":"`))
		c.data = fmt.Appendf(c.data, `{"seq":"%016x","ts":"2026-05-05T14:%02d:%02d.%03dZ","session":"%s",`,
			seq, seq/60000%60, seq/1000%60, seq%1000, session)
		tool := tools[r.IntN(len(tools))]
		switch seq % 3 {
		case 0:
			c.data = fmt.Appendf(c.data, `"type":"tool_call","tool":%q,"call_id":"call_%012x","args":{"path":"src/file_%04d.rs","command":"%s"},"tokens":{"in":%d,"out":%d}}`,
				tool, r.Uint64()>>16, r.IntN(64), text(12), r.IntN(200000), r.IntN(4000))
		case 1:
			c.data = fmt.Appendf(c.data, `"type":"tool_result","tool":%q,"ok":%t,"duration_ms":%d,"output":"%s"}`,
				tool, r.IntN(5) > 0, r.IntN(30000), text(120))
		default:
			c.data = fmt.Appendf(c.data, `"type":"message","role":"assistant","content":"%s"}`, text(60))
		}
		c.data = append(c.data, '\n')
	}
	c.data = c.data[:n]
	for len(c.stamps) > 0 && c.stamps[len(c.stamps)-1]+16 > n {
		c.stamps = c.stamps[:len(c.stamps)-1]
	}
	return c
}
