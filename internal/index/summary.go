package index

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/migrations"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// A Summary is what a listing shows of an image: its id, creation time,
// agent and parents. An image's value in index/time holds it, written
// with the manifest in the same transaction, so that a listing is one
// range scan of index/time that reads no manifest.
type Summary struct {
	ID        manifest.Digest
	CreatedAt time.Time
	Agent     manifest.Agent
	Parents   []manifest.Digest // in the manifest's order
}

// SummaryOf is the summary of image id, whose manifest is m.
func SummaryOf(id manifest.Digest, m *manifest.Manifest) Summary {
	return Summary{ID: id, CreatedAt: m.CreatedAt.UTC(), Agent: m.Agent, Parents: m.Parents}
}

// summaryFormat leads every index/time value: the layout below. An empty
// value is an image filed before schema 11, which carries none.
const summaryFormat = 1

// EncodeSummary is the index/time value of image m: the format byte, the
// agent's kind, version and fingerprint each behind its length (uvarint),
// then the number of parents (uvarint) and their 32 bytes each. The id and creation time are the key's.
func EncodeSummary(m *manifest.Manifest) []byte {
	a := m.Agent
	v := make([]byte, 0, 1+3*binary.MaxVarintLen32+len(a.Kind)+len(a.Version)+len(a.Fingerprint)+1+32*len(m.Parents))
	v = append(v, summaryFormat)
	for _, s := range []string{a.Kind, a.Version, a.Fingerprint} {
		v = binary.AppendUvarint(v, uint64(len(s)))
		v = append(v, s...)
	}
	v = binary.AppendUvarint(v, uint64(len(m.Parents)))
	for _, p := range m.Parents {
		v = append(v, p[:]...)
	}
	return v
}

// DecodeSummary is the summary of the image filed under key in index/time
// with value v. ok is false for an empty value (an image filed before
// summaries were kept: s holds only the id and time; read its manifest);
// a value that does not parse is an error wrapping db.ErrCorrupt.
func DecodeSummary(key, v []byte) (s Summary, ok bool, err error) {
	var d summaryDecoder
	return d.decode(key, v)
}

// A summaryDecoder decodes the summaries of one listing: their strings
// share one growing buffer and their parents one growing array, so that a
// listing makes a few allocations, not four an image. (A string taken
// from a strings.Builder stays valid as the builder grows: the bytes it
// covers are never written again.)
type summaryDecoder struct {
	text    strings.Builder
	parents []manifest.Digest
}

func (d *summaryDecoder) decode(key, v []byte) (s Summary, ok bool, err error) {
	created, id, keyOK := ParseTimeKey(key)
	if !keyOK {
		return Summary{}, false, corruptKey("time", key)
	}
	if len(v) == 0 {
		return Summary{ID: id, CreatedAt: created}, false, nil
	}
	bad := func(why string) error {
		return fmt.Errorf("index/time: summary of image %s: %s: %w", id, why, db.ErrCorrupt)
	}
	if v[0] != summaryFormat {
		return Summary{}, false, bad(fmt.Sprintf("format %d", v[0]))
	}
	s = Summary{ID: id, CreatedAt: created}
	rest := v[1:]
	for _, dst := range []*string{&s.Agent.Kind, &s.Agent.Version, &s.Agent.Fingerprint} {
		n, w := binary.Uvarint(rest)
		if w <= 0 || n > uint64(len(rest)-w) {
			return Summary{}, false, bad("an agent field runs past the value")
		}
		start := d.text.Len()
		d.text.Write(rest[w : w+int(n)])
		*dst = d.text.String()[start:]
		rest = rest[w+int(n):]
	}
	n, w := binary.Uvarint(rest)
	if w <= 0 || n != uint64(len(rest)-w)/32 || (len(rest)-w)%32 != 0 {
		return Summary{}, false, bad("the parents do not fill the value")
	}
	if n > 0 {
		rest = rest[w:]
		start := len(d.parents)
		for i := range int(n) {
			d.parents = append(d.parents, manifest.Digest(rest[32*i:]))
		}
		s.Parents = d.parents[start:len(d.parents):len(d.parents)]
	}
	return s, true, nil
}

// CheckSummary reports whether image id's value in index/time is the
// summary of its manifest m: a summary that says otherwise is damage,
// which a listing would show as it is. An empty value (an image filed
// before summaries were kept) is not.
func CheckSummary(tx *bolt.Tx, id manifest.Digest, m *manifest.Manifest) error {
	byTime, _, err := buckets(tx)
	if err != nil {
		return err
	}
	key := TimeKey(m.CreatedAt, id)
	v := byTime.Get(key)
	if v == nil {
		return fmt.Errorf("image %s is missing from index/time: %w", id, db.ErrCorrupt)
	}
	got, ok, err := DecodeSummary(key, v)
	if err != nil || !ok {
		return err
	}
	if !sameSummary(got, SummaryOf(id, m)) {
		return fmt.Errorf("index/time: the summary of image %s differs from its manifest: %w", id, db.ErrCorrupt)
	}
	return nil
}

func sameSummary(a, b Summary) bool {
	if a.ID != b.ID || !a.CreatedAt.Equal(b.CreatedAt) || a.Agent != b.Agent || len(a.Parents) != len(b.Parents) {
		return false
	}
	for i := range a.Parents {
		if a.Parents[i] != b.Parents[i] {
			return false
		}
	}
	return true
}

// The schema step that fills index/time's values reads each manifest
// through this package, as Put would have summarized it.
func init() {
	migrations.SummarizeManifest = func(id [32]byte, v []byte) ([]byte, error) {
		e, err := Decode(manifest.Digest(id), v)
		if err != nil {
			return nil, err
		}
		return EncodeSummary(e.Manifest), nil
	}
}
