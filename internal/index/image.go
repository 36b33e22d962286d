package index

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// An Entry is one image's record: what Put files and Get reads back.
type Entry struct {
	ID       manifest.Digest
	Raw      []byte             // the manifest's exact bytes
	Manifest *manifest.Manifest // their parse
	Value    []byte             // its manifests/ value (cas.EncodeManifest)
	// Reached is the logical bytes of the blobs the image reaches, which
	// the stats count (image_logical).
	Reached int64
	// Shallow: the image lacks parents the store does not have; shallow/
	// lists it.
	Shallow bool
	// Get leaves Reached and Shallow unset: it reads the manifest alone.
}

// NewEntry is the record of the manifest raw, which parses as m. It
// encodes the manifests/ value: do it before the transaction, which a
// group commit may run twice and every other commit waits for.
func NewEntry(raw []byte, m *manifest.Manifest) Entry {
	return Entry{ID: manifest.Sum(raw), Raw: raw, Manifest: m, Value: cas.EncodeManifest(raw)}
}

// Has reports whether image id is filed.
func Has(tx *bolt.Tx, id manifest.Digest) bool { return Value(tx, id) != nil }

// Value is image id's manifests/ value as it lies in tx's memory; nil if
// the image is not filed.
func Value(tx *bolt.Tx, id manifest.Digest) []byte {
	b := tx.Bucket(db.BucketManifests)
	if b == nil {
		return nil
	}
	return b.Get(id[:])
}

// Get reads image id's record. A missing image is an error wrapping
// db.ErrNotFound; a value that does not decode to bytes hashing to id, or
// bytes that do not parse, wraps db.ErrCorrupt.
func Get(tx *bolt.Tx, id manifest.Digest) (Entry, error) {
	manifests, err := db.Bucket(tx, db.BucketManifests)
	if err != nil {
		return Entry{}, err
	}
	v := manifests.Get(id[:])
	if v == nil {
		return Entry{}, fmt.Errorf("image %s: %w", id, db.ErrNotFound)
	}
	return Decode(id, v)
}

// Decode is the record of image id whose manifests/ value is v, which may
// lie in a transaction's memory (Raw is a copy): the exact bytes, checked
// against id, and their parse.
func Decode(id manifest.Digest, v []byte) (Entry, error) {
	raw, err := cas.DecodeManifest(id, v)
	if err != nil {
		return Entry{}, err
	}
	m, err := manifest.Decode(raw)
	if err != nil {
		return Entry{}, fmt.Errorf("image %s: %w: %v", id, db.ErrCorrupt, err)
	}
	return Entry{ID: id, Raw: raw, Manifest: m, Value: v}, nil
}

// Put files images: each one's manifests/ value, its index/time key
// with its summary (EncodeSummary) as the value, its index/parent keys, its shallow/ mark, and the stats counters (images,
// image_logical, logical, stored). An image filed already is left as it
// is. Each bucket's keys go in in sorted order, which is how bbolt fills
// its pages best: a bulk loader passes many entries at once.
func Put(tx *bolt.Tx, entries ...Entry) error {
	manifests, err := db.Bucket(tx, db.BucketManifests)
	if err != nil {
		return err
	}
	var fresh []Entry
	seen := map[manifest.Digest]bool{}
	for _, e := range entries {
		if !seen[e.ID] && manifests.Get(e.ID[:]) == nil {
			seen[e.ID] = true
			fresh = append(fresh, e)
		}
	}
	slices.SortFunc(fresh, func(a, b Entry) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	var timeKeys, parentKeys, shallowKeys [][]byte
	summaries := make(map[string][]byte, len(fresh)) // index/time's values, by key
	var images, imageLogical, logical, stored int64
	for _, e := range fresh {
		if err := manifests.Put(e.ID[:], e.Value); err != nil {
			return err
		}
		t, p := keys(e.ID, e.Manifest.CreatedAt, e.Manifest.Parents)
		timeKeys = append(timeKeys, t)
		summaries[string(t)] = EncodeSummary(e.Manifest)
		parentKeys = append(parentKeys, p...)
		if e.Shallow {
			shallowKeys = append(shallowKeys, e.ID[:])
		}
		images++
		imageLogical += e.Reached + int64(len(e.Raw))
		logical += int64(len(e.Raw))
		stored += int64(len(e.Value))
	}
	for _, k := range []struct {
		path [][]byte
		keys [][]byte
		fill float64
	}{
		{[][]byte{db.BucketIndex, db.BucketTime}, timeKeys, timeFill},
		{[][]byte{db.BucketIndex, db.BucketParent}, parentKeys, bolt.DefaultFillPercent},
		{[][]byte{db.BucketShallow}, shallowKeys, bolt.DefaultFillPercent},
	} {
		b, err := db.Bucket(tx, k.path...)
		if err != nil {
			return err
		}
		b.FillPercent = k.fill
		slices.SortFunc(k.keys, bytes.Compare)
		for _, key := range k.keys {
			v := summaries[string(key)] // nil, stored as empty, outside index/time
			if v == nil {
				v = []byte{}
			}
			if err := b.Put(key, v); err != nil {
				return err
			}
		}
	}
	return addCounters(tx, images, imageLogical, logical, stored)
}

// Remove unfiles the image e (as Get read it, with Reached set as Put
// had it): its manifest, index keys and shallow/ mark, and its part of
// the counters. It reports whether the image was filed.
func Remove(tx *bolt.Tx, e Entry) (bool, error) {
	manifests, err := db.Bucket(tx, db.BucketManifests)
	if err != nil {
		return false, err
	}
	v := manifests.Get(e.ID[:])
	if v == nil {
		return false, nil
	}
	stored := int64(len(v))
	if err := manifests.Delete(e.ID[:]); err != nil {
		return false, err
	}
	byTime, byParent, err := buckets(tx)
	if err != nil {
		return false, err
	}
	timeKey, parentKeys := keys(e.ID, e.Manifest.CreatedAt, e.Manifest.Parents)
	if err := byTime.Delete(timeKey); err != nil {
		return false, err
	}
	for _, k := range parentKeys {
		if err := byParent.Delete(k); err != nil {
			return false, err
		}
	}
	shallow, err := db.Bucket(tx, db.BucketShallow)
	if err != nil {
		return false, err
	}
	if err := shallow.Delete(e.ID[:]); err != nil {
		return false, err
	}
	raw := int64(len(e.Raw))
	return true, addCounters(tx, -1, -(e.Reached + raw), -raw, -stored)
}

// timeFill is how full a page of index/time is left when it splits. New
// images are nearly always the newest, so their keys go in at the end
// and a page that splits is never written again: bbolt's default (half)
// would leave index/time, summaries and all, half empty.
const timeFill = 0.9

func addCounters(tx *bolt.Tx, images, imageLogical, logical, stored int64) error {
	for _, c := range []struct {
		name  string
		delta int64
	}{
		{db.CounterImages, images},
		{db.CounterImageLogical, imageLogical},
		{db.CounterLogical, logical},
		{db.CounterStored, stored},
	} {
		if err := db.AddCounter(tx, c.name, c.delta); err != nil {
			return err
		}
	}
	return nil
}
