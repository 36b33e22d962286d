package bench

import "encoding/binary"

// golden is SplitMix64's increment, 2^64 divided by the golden ratio.
const golden = 0x9e3779b97f4a7c15

// splitMix64 is Steele, Lea and Flood's SplitMix64 generator. The fixture
// takes its bytes from it because its output is statistically random (it
// does not compress, as cache pages and weights mostly do not) and because
// it is a dozen lines anyone can reimplement to reproduce the fixture in
// another language.
type splitMix64 struct{ state uint64 }

func (s *splitMix64) next() uint64 {
	s.state += golden
	z := s.state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// fill writes the stream to b as little-endian 64-bit words; a tail shorter
// than a word takes the low bytes of one more word.
func (s *splitMix64) fill(b []byte) {
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, s.next())
		b = b[8:]
	}
	if len(b) > 0 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], s.next())
		copy(b, w[:])
	}
}

// mix folds v into h with one SplitMix64 step. Chained, it derives a seed
// per item from the fixture seed, a tag and indexes, such that items never
// share a stream.
func mix(h, v uint64) uint64 {
	s := splitMix64{h ^ v}
	return s.next()
}
