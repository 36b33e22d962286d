package index

import (
	"bytes"
	"time"

	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// TimeRange selects a stretch of index/time.
type TimeRange struct {
	// Since and Until bound created_at to [Since, Until); a zero time
	// leaves that side open.
	Since, Until time.Time
	// Reverse scans oldest first; the default is newest first.
	Reverse bool
	// After resumes a scan strictly after this key, in the scan's own
	// order (a key ScanTime passed to its callback). Nil starts at the
	// edge of the range.
	After []byte
}

// bounds returns the range as keys of index/time: every key k of an image
// inside [Since, Until) has lo <= k < hi. A nil bound is open. After is not
// included.
func (r TimeRange) bounds() (lo, hi []byte) {
	if !r.Since.IsZero() {
		lo = TimeKey(r.Since, manifest.Digest{})
	}
	if !r.Until.IsZero() {
		hi = TimeKey(r.Until, manifest.Digest{})
	}
	return lo, hi
}

// Contains reports whether key lies inside the range and, when After is
// set, strictly beyond After in the scan's order.
func (r TimeRange) Contains(key []byte) bool {
	lo, hi := r.bounds()
	if lo != nil && bytes.Compare(key, lo) < 0 || hi != nil && bytes.Compare(key, hi) >= 0 {
		return false
	}
	if r.After == nil {
		return true
	}
	if r.Reverse {
		return bytes.Compare(key, r.After) > 0
	}
	return bytes.Compare(key, r.After) < 0
}

// ScanTime calls fn with each image of r, newest first (oldest first when
// r.Reverse), until fn returns false or an error. The key passed is valid
// only during the call. It seeks to the edge of the range and walks from
// there, so its cost grows with the number of keys fn sees, not with the
// size of the index.
func ScanTime(tx *bolt.Tx, r TimeRange, fn func(key []byte, id manifest.Digest) (more bool, err error)) error {
	return scanTime(tx, r, func(key, _ []byte) (bool, error) {
		_, id, ok := ParseTimeKey(key)
		if !ok {
			return false, corruptKey("time", key)
		}
		return fn(key, id)
	})
}

// ScanSummaries is ScanTime passing each image's summary, read from
// index/time's value. ok is false for an image filed without one (before
// schema 11, or by an older pf): the caller reads its manifest.
func ScanSummaries(tx *bolt.Tx, r TimeRange, fn func(key []byte, s Summary, ok bool) (more bool, err error)) error {
	// Room for a page of a hundred or so images from the start: a
	// listing is short, and each doubling copies what came before.
	var d summaryDecoder
	d.text.Grow(4096)
	d.parents = make([]manifest.Digest, 0, 128)
	return scanTime(tx, r, func(key, value []byte) (bool, error) {
		s, ok, err := d.decode(key, value)
		if err != nil {
			return false, err
		}
		return fn(key, s, ok)
	})
}

func scanTime(tx *bolt.Tx, r TimeRange, fn func(key, value []byte) (more bool, err error)) error {
	byTime, _, err := buckets(tx)
	if err != nil {
		return err
	}
	lo, hi := r.bounds()
	c := byTime.Cursor()
	var k, v []byte
	if r.Reverse {
		// Oldest first: start at the first key >= lo, or just after
		// After, whichever is later. After+0x00 is the least key above
		// After, since all keys have the same length.
		start := lo
		if r.After != nil && bytes.Compare(r.After, lo) >= 0 {
			start = append(bytes.Clone(r.After), 0)
		}
		if start == nil {
			k, v = c.First()
		} else {
			k, v = c.Seek(start)
		}
	} else {
		// Newest first: start at the last key < hi, or < After,
		// whichever is earlier.
		end := hi
		if r.After != nil && (end == nil || bytes.Compare(r.After, end) < 0) {
			end = r.After
		}
		if end == nil {
			k, v = c.Last()
		} else if k, _ = c.Seek(end); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	}
	for ; k != nil; k, v = step(c, r.Reverse) {
		if r.Reverse && hi != nil && bytes.Compare(k, hi) >= 0 || !r.Reverse && lo != nil && bytes.Compare(k, lo) < 0 {
			return nil
		}
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func step(c *bolt.Cursor, forward bool) (k, v []byte) {
	if forward {
		return c.Next()
	}
	return c.Prev()
}

// Children lists the images that name parent among their parents, in the
// order of their ids. It is one prefix scan of index/parent.
func Children(tx *bolt.Tx, parent manifest.Digest) ([]manifest.Digest, error) {
	_, byParent, err := buckets(tx)
	if err != nil {
		return nil, err
	}
	var out []manifest.Digest
	c := byParent.Cursor()
	for k, _ := c.Seek(parent[:]); k != nil && bytes.HasPrefix(k, parent[:]); k, _ = c.Next() {
		if len(k) != edgeKeyLen {
			return nil, corruptKey("parent", k)
		}
		out = append(out, manifest.Digest(k[32:]))
	}
	return out, nil
}

// Roots lists the images without parents, in the order of their ids.
func Roots(tx *bolt.Tx) ([]manifest.Digest, error) {
	return Children(tx, rootParent)
}

// Edges calls fn for every parent edge of the store, in the order of the
// parents' ids (a root's marker is not an edge): the whole history's shape
// in one scan of index/parent, without reading a manifest.
func Edges(tx *bolt.Tx, fn func(parent, child manifest.Digest) error) error {
	_, byParent, err := buckets(tx)
	if err != nil {
		return err
	}
	return byParent.ForEach(func(k, _ []byte) error {
		if len(k) != edgeKeyLen {
			return corruptKey("parent", k)
		}
		parent := manifest.Digest(k[:32])
		if parent == rootParent {
			return nil
		}
		return fn(parent, manifest.Digest(k[32:]))
	})
}
