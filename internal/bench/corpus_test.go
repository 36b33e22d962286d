package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"sync"
	"testing"
)

const (
	corpusBytes = 64 << 20    // the largest put batch
	ingestBytes = 10000 << 14 // 10,000 x 16 KiB, random only
)

var corpora = struct {
	sync.Mutex
	m map[string]*corpus
}{m: map[string]*corpus{}}

// corpusOf returns the process's corpus of a kind, built on first use: a
// benchmark function runs several times, and building 64 MiB of JSON each
// time would dwarf what it measures.
func corpusOf(kind string) *corpus {
	corpora.Lock()
	defer corpora.Unlock()
	c := corpora.m[kind]
	if c == nil {
		switch kind {
		case kindRandom:
			c = binaryCorpus(randomBytes(ingestBytes))
		case kindJSONL:
			c = jsonlCorpus(corpusBytes)
		case kindFP16:
			c = binaryCorpus(fp16Bytes(corpusBytes))
		default:
			panic("unknown corpus kind " + kind)
		}
		corpora.m[kind] = c
	}
	return c
}

func TestHalfBits(t *testing.T) {
	for _, tc := range []struct {
		f    float32
		want uint16
	}{
		{0, 0}, {1, 0x3c00}, {-2, 0xc000}, {0.5, 0x3800}, {65504, 0x7bff}, {1e6, 0x7c00},
		{float32(math.Ldexp(1, -14)), 0x0400}, {float32(math.Ldexp(1, -24)), 0x0001},
		{float32(math.Ldexp(1, -26)), 0}, {1 + float32(math.Ldexp(1, -11)), 0x3c00}, // tie to even
		{1 + 3*float32(math.Ldexp(1, -11)), 0x3c02}, {0.1, 0x2e66},
	} {
		if got := halfBits(tc.f); got != tc.want {
			t.Errorf("halfBits(%v) = %#04x, want %#04x", tc.f, got, tc.want)
		}
	}
}

func TestCorpusRestamp(t *testing.T) {
	for kind, c := range map[string]*corpus{
		kindJSONL: jsonlCorpus(1 << 20),
		kindFP16:  binaryCorpus(fp16Bytes(1 << 20)),
	} {
		if len(c.data) != 1<<20 {
			t.Fatalf("%s: %d bytes, want %d", kind, len(c.data), 1<<20)
		}
		before := string(c.data[:1<<20])
		c.restamp(1 << 20)
		after := c.data[:1<<20]
		// Every 4 KiB block of the first MiB changed.
		for off := 0; off < len(after); off += 4 << 10 {
			if before[off:off+4<<10] == string(after[off:off+4<<10]) {
				t.Fatalf("%s: block at %d did not change", kind, off)
			}
		}
		if kind != kindJSONL {
			continue
		}
		lines := bytes.Split(after, []byte("\n"))
		for i, line := range lines[:len(lines)-1] { // the last may be cut off
			if !json.Valid(line) {
				t.Fatalf("jsonl: line %d is not JSON: %s", i, line)
			}
		}
	}
}
