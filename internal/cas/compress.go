package cas

import (
	"encoding/binary"
	"math"
	"runtime"

	"sync"

	"github.com/processfork/pf/manifest"

	"github.com/klauspost/compress/zstd"
)

// DefaultLevel is the zstd level new values are written with. Fastest:
// random and tensor data pass through as raw blocks at about 6 GB/s, and on
// JSON it gives a ratio of 3.3 at 220 MB/s against Default's 3.5 at
// 172 MB/s, measured with zstd alone on this project's 2-core machines
// (BenchmarkPut in package bench compares the levels on this data).
const DefaultLevel = zstd.SpeedFastest

var (
	encodersMu sync.Mutex
	encoders   = map[zstd.EncoderLevel]*zstd.Encoder{}

	decoderOnce sync.Once
	decoder     *zstd.Decoder
)

// encoderFor returns the process's one encoder for a level: EncodeAll is
// safe for concurrent use, and an encoder costs megabytes to build.
func encoderFor(level zstd.EncoderLevel) *zstd.Encoder {
	encodersMu.Lock()
	defer encodersMu.Unlock()
	e := encoders[level]
	if e == nil {
		var err error
		e, err = zstd.NewWriter(nil, valueEncoderOptions(level)...)
		if err != nil {
			panic(err) // only for invalid options, which are constant here
		}
		encoders[level] = e
	}
	return e
}

// valueEncoderOptions are those of every encoder of values, at level,
// with extra (a dictionary) after them.
func valueEncoderOptions(level zstd.EncoderLevel, extra ...zstd.EOption) []zstd.EOption {
	return append([]zstd.EOption{
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithEncoderCRC(false), // values are verified by SHA-256
		// No value is longer than a chunk: a longer window adds only
		// memory, as each encoder keeps a history of twice the
		// window (32 MiB for two encoders at the default 8 MiB).
		zstd.WithWindowSize(chunkMax),
		zstd.WithZeroFrames(true),
	}, extra...)
}

// valueDecoderOptions are those of every decoder of values, with extra
// (its dictionaries) after them.
func valueDecoderOptions(extra ...zstd.DOption) []zstd.DOption {
	return append([]zstd.DOption{
		zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithDecoderMaxMemory(chunkMax),
		zstd.IgnoreChecksum(true), // values are verified by SHA-256
	}, extra...)
}

// sharedDecoder refuses to produce more than chunkMax bytes, whatever a
// frame claims.
func sharedDecoder() *zstd.Decoder {
	decoderOnce.Do(func() {
		var err error
		decoder, err = zstd.NewReader(nil, valueDecoderOptions(zstd.WithDecoderDictRaw(manifestDictID, manifestDict()))...)
		if err != nil {
			panic(err)
		}
	})
	return decoder
}

// encodeValue builds the stored value for b: zstd when that saves at least
// one part in 16, raw otherwise.
func encodeValue(level zstd.EncoderLevel, b []byte) []byte {
	if v := compressValue(level, b); v != nil {
		return v
	}
	return appendRawValue(make([]byte, 0, binary.MaxVarintLen64+1+len(b)), b)
}

// compressValue returns b's value in zstd, or nil when it should be stored
// raw: too short, random-looking, or saving less than one part in 16.
func compressValue(level zstd.EncoderLevel, b []byte) []byte {
	if !worthCompressing(b) {
		return nil
	}
	return compressValueInto(make([]byte, 0, compressRoom(len(b))), level, b)
}

// worthCompressing reports whether b may compress: neither too short nor
// random-looking.
func worthCompressing(b []byte) bool { return len(b) >= 64 && !looksRandom(b) }

// fastestMin is the shortest value a put compresses at SpeedFastest.
// Below it zstd's cost is mostly what it pays for each value whatever its
// size (its Huffman and FSE tables): on Go source, 9 us a value of 1 KiB
// (15 ns a byte saved), 14 us at 2 KiB (10 ns), 18 us at 4 KiB (6 ns),
// against 4 ns a byte saved at 16 KiB; 100,000 files of about 900 bytes
// took 0.95 s of CPU to compress, a third of a first snapshot's. Such a
// value is stored raw: compaction compresses it later against the
// store's dictionary, which pays most on small values.
const fastestMin = 2 << 10

// WorthCompressingAt is worthCompressing for a put at level: whether a
// put tries zstd on b at all. pf-bench's first-checkpoint limit asks it
// too, so that its floor compresses what a put would.
func WorthCompressingAt(level zstd.EncoderLevel, b []byte) bool {
	return (level != zstd.SpeedFastest || len(b) >= fastestMin) && worthCompressing(b)
}

// compressRoom is the room a buffer needs for the zstd value of n bytes
// that compressValueInto keeps: its header and less than n bytes of frame.
func compressRoom(n int) int { return 12 + n }

// compressValueInto is compressValue writing the value into dst's room
// (grown if it is short), or returning nil; it does not look at whether b
// looks random, which the caller did.
func compressValueInto(dst []byte, level zstd.EncoderLevel, b []byte) []byte {
	h := appendHeader(dst[:0], formatZstd, len(b))
	v := encoderFor(level).EncodeAll(b, h)
	if len(v)-len(h) < len(b)-len(b)/16 {
		return v
	}
	return nil
}

// appendRawValue appends b's value, stored raw, to dst.
func appendRawValue(dst, b []byte) []byte {
	return append(appendHeader(dst, formatRaw, len(b)), b...)
}

// rawValueRoom is the room a raw value buffer keeps before its bytes for
// the longest header.
const rawValueRoom = 1 + binary.MaxVarintLen64

// newRawValue copies b into a buffer from valueBuffers, after room for a
// header: rawValueIn makes it b's raw value where it lies, and what is
// staged so is written from that buffer with no further copy. The buffer
// goes back to valueBuffers once nothing reads it.
func newRawValue(b []byte) []byte {
	return append(valueBuffers().get(rawValueRoom + len(b))[:rawValueRoom], b...)
}

// rawValueIn writes the header of the raw value of raw's bytes (those
// after rawValueRoom) just before them, and returns the value.
func rawValueIn(raw []byte) []byte {
	var h [rawValueRoom]byte
	hdr := appendHeader(h[:0], formatRaw, len(raw)-rawValueRoom)
	start := rawValueRoom - len(hdr)
	copy(raw[start:], hdr)
	return raw[start:]
}

// decodeValue returns the logical bytes of a raw or zstd value and checks
// them against d. The output buffer is sized from the header, and the
// decoder's own limit stops a frame that would grow past it.
func decodeValue(d manifest.Digest, h header) ([]byte, error) {
	return decodeValueInto(nil, d, h)
}

// decodeValueInto is decodeValue decoding a zstd value into dst's room
// (grown if it is short) rather than a new buffer; a raw value is its
// payload, as there.
func decodeValueInto(dst []byte, d manifest.Digest, h header) ([]byte, error) {
	out, err := decodeUnverifiedInto(dst, d, h)
	if err != nil {
		return nil, err
	}
	if manifest.Sum(out) != d {
		return nil, corrupt(d, "content hashes to %s", manifest.Sum(out))
	}
	return out, nil
}

// decodeUnverifiedInto is decodeValueInto without the check against d,
// for a chunk that the digest of the whole blob it is part of proves.
func decodeUnverifiedInto(dst []byte, d manifest.Digest, h header) ([]byte, error) {
	if h.format == formatRaw {
		return h.payload, nil
	}
	if int64(cap(dst)) >= h.size {
		return appendDecoded(dst[:0], d, h)
	}
	// Not cleared: the decoder writes each of the value's bytes before
	// they are returned, and a frame that decodes short is refused. The
	// clearing was 4% of a read of 16 KiB of JSON lines. The room past
	// the value, which the decoder may have used, is cut off the result.
	out, err := appendDecoded(uninitializedBytes(int(h.size) + decodeSlack)[:0], d, h)
	return out[:len(out):len(out)], err
}

// decodeSlack is the room past a value's size that its output buffer is
// made with. klauspost's decoder copies a block's sequences with wide
// unchecked moves only when the output has 32 bytes to spare after the
// block; a buffer of the exact size sends a value of one block (every
// value up to 128 KiB) through its safe, byte-careful copies, which
// decoded 16 KiB of JSON lines 2.5x slower.
const decodeSlack = 32

// appendDecoded appends the logical bytes of a raw or zstd value to dst,
// unverified: the caller checks them, or the whole they are part of.
func appendDecoded(dst []byte, d manifest.Digest, h header) ([]byte, error) {
	switch h.format {
	case formatRaw:
		return append(dst, h.payload...), nil
	case formatZstd:
		var fh zstd.Header
		if err := fh.Decode(h.payload); err != nil || (fh.HasFCS && fh.FrameContentSize != uint64(h.size)) {
			return nil, corrupt(d, "zstd frame header does not match the recorded size %d", h.size)
		}
		dec := decoderFor(fh.DictionaryID)
		if dec == nil {
			return nil, corrupt(d, "compressed against zstd dictionary %d, which the store does not hold", fh.DictionaryID)
		}
		// Into dst's spare room, not onto dst: the decoder's limit counts
		// what dst already holds.
		out, err := dec.DecodeAll(h.payload, dst[len(dst):])
		if err != nil {
			return nil, corrupt(d, "zstd: %v", err)
		}
		if int64(len(out)) != h.size {
			return nil, corrupt(d, "decoded to %d bytes, header says %d", len(out), h.size)
		}
		if len(out) > 0 && len(dst) < cap(dst) && &out[0] == &dst[:len(dst)+1][len(dst)] {
			return dst[:len(dst)+len(out)], nil // decoded in place
		}
		return append(dst, out...), nil
	}
	return nil, corrupt(d, "value format 0x%02x where raw or zstd was expected", h.format)
}

// Sampling for looksRandom: 16 runs spread over the value, a sixteenth of
// it in all but at least 1 KiB and at most 4 KiB. A 16 KiB cache page is
// judged from 1 KiB: the check then costs a tenth of hashing the page.
const (
	sampleRuns = 16
	minSample  = 1 << 10
	maxSample  = 4 << 10
	// randomBits is the order-0 entropy, in bits per byte, above which a
	// sample counts as random. The estimate is corrected for the sample's
	// size (Miller-Madow), so that one threshold serves every size:
	// uniform random bytes then measure about 8, JSON about 5, fp16
	// tensors about 7 or less.
	randomBits = 7.9
)

// nlog2n[c] is c*log2(c), for the entropy of a sample's byte counts;
// built on first use, not at start-up: most pf commands store nothing.
var nlog2n = sync.OnceValue(func() *[maxSample + 1]float64 {
	var t [maxSample + 1]float64
	for c := 1; c <= maxSample; c++ {
		t[c] = float64(c) * math.Log2(float64(c))
	}
	return &t
})

// looksRandom reports whether b's bytes are spread so evenly that zstd
// would store it raw anyway. KV-cache pages and weight deltas are mostly
// such data, and trying to compress them cost more CPU than hashing them;
// the check reads at most 4 KiB. A value that is one random block repeated
// would compress but is judged random: that is rare in agent state, and
// it is then only stored larger, never wrongly.
func looksRandom(b []byte) bool {
	runLen := min(max(len(b)/16, minSample), maxSample) / sampleRuns &^ 3
	n := runLen * sampleRuns
	if len(b) < n {
		return false
	}
	// Four tables, so that runs of one byte value do not make each
	// increment wait for the one before it.
	var counts [4][256]uint16
	step := (len(b) - runLen) / (sampleRuns - 1)
	for r := 0; r < sampleRuns; r++ {
		run := b[r*step : r*step+runLen]
		for i := 0; i+4 <= len(run); i += 4 {
			counts[0][run[i]]++
			counts[1][run[i+1]]++
			counts[2][run[i+2]]++
			counts[3][run[i+3]]++
		}
	}
	sum, seen, nlog2n := 0.0, 0, nlog2n()
	for c := range 256 {
		if k := int(counts[0][c]) + int(counts[1][c]) + int(counts[2][c]) + int(counts[3][c]); k > 0 {
			sum += nlog2n[k]
			seen++
		}
	}
	bits := math.Log2(float64(n)) - sum/float64(n) + float64(seen-1)/(2*float64(n)*math.Ln2)
	return bits > randomBits
}
