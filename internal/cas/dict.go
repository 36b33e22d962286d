package cas

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/processfork/pf/internal/db"
	bolt "go.etcd.io/bbolt"
)

// A store's dictionary: zstd compresses each value alone, and a value of
// a few KiB (a source file, a small text) has little in itself to match
// against. Compaction trains a dictionary on the store's own small
// values, keeps it in dicts/ and compresses those values against it. On
// a copy of $GOROOT/src, its files up to 256 KiB store 23.7 MB at
// CompactLevel alone and 21.3 MB against a dictionary of 48 KiB (20.9 MB
// at 110 KiB, for twice the compaction's time: the encoder loads the
// dictionary for every value).
//
// A value compressed so is an ordinary zstd value (format 0x01) whose
// frame header names the dictionary's id; reads find the dictionary by
// that id. A store keeps the first dictionary it trains and never
// deletes it, so that no value can outlive its dictionary.
const (
	dictHistory    = 64 << 10  // the dictionary's content, at most
	dictSampleMax  = 16 << 10  // the longest value trained on
	dictSampleMin  = 64        // the shortest
	dictSamples    = 2000      // values trained on, at most
	dictMinSamples = 100       // fewer: no dictionary
	dictValueMax   = 128 << 10 // longer values are compressed without it
)

var dictLevel = zstd.SpeedBetterCompression

// storeDict is one dictionary of the process's open stores, with the
// coders built from it on first use.
type storeDict struct {
	content []byte
	dec     func() *zstd.Decoder
	enc     func() *zstd.Encoder
}

// dicts maps dictionary ids to their *storeDict. Reads decode with the
// process's decoders, not a store's, so the dictionaries of every store
// opened are here; two stores holding different dictionaries under one
// id (a 32-bit hash of their training) cannot both be opened, and a
// value decoded against the wrong one fails its digest.
var dicts sync.Map

func newStoreDict(content []byte) *storeDict {
	return &storeDict{
		content: content,
		dec: sync.OnceValue(func() *zstd.Decoder {
			d, err := zstd.NewReader(nil, valueDecoderOptions(zstd.WithDecoderDicts(content))...)
			if err != nil {
				panic(err) // registerDict checked the dictionary
			}
			return d
		}),
		enc: sync.OnceValue(func() *zstd.Encoder {
			e, err := zstd.NewWriter(nil, valueEncoderOptions(dictLevel, zstd.WithEncoderDict(content))...)
			if err != nil {
				panic(err)
			}
			return e
		}),
	}
}

// registerDict makes the dictionary content, whose id is id, known to
// this process's reads.
func registerDict(id uint32, content []byte) error {
	check, err := zstd.NewReader(nil, zstd.WithDecoderDicts(content))
	if err != nil {
		return fmt.Errorf("zstd dictionary %d: %w: %v", id, db.ErrCorrupt, err)
	}
	check.Close()
	v, loaded := dicts.LoadOrStore(id, newStoreDict(bytes.Clone(content)))
	if loaded && !bytes.Equal(v.(*storeDict).content, content) {
		return fmt.Errorf("zstd dictionary %d: another open store holds a different dictionary of that id", id)
	}
	return nil
}

// decoderFor returns the decoder of frames compressed against dictionary
// id (0: none, or pf's manifest dictionary), or nil if no store opened
// has it.
func decoderFor(id uint32) *zstd.Decoder {
	if id == 0 || id == manifestDictID {
		return sharedDecoder()
	}
	v, ok := dicts.Load(id)
	if !ok {
		return nil
	}
	return v.(*storeDict).dec()
}

// LoadDicts makes the store's dictionaries known to reads; the store's
// opening calls it before anything is read.
func (s *Bolt) LoadDicts() error {
	return s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(db.BucketDicts)
		if b == nil {
			return nil // a read-only open of a store of schema 11 or older
		}
		return b.ForEach(func(k, v []byte) error {
			if len(k) != 4 {
				return fmt.Errorf("dicts/: key of %d bytes: %w", len(k), db.ErrCorrupt)
			}
			return registerDict(binary.BigEndian.Uint32(k), v)
		})
	})
}

// compactDict returns the store's dictionary, training one on its packed
// values if it has none and they are enough; nil: none.
func (s *Bolt) compactDict(ctx context.Context) (*storeDict, error) {
	var id uint32
	var have bool
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := db.Bucket(tx, db.BucketDicts)
		if err != nil {
			return err
		}
		if k, _ := b.Cursor().First(); k != nil {
			id, have = binary.BigEndian.Uint32(k), true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !have {
		samples, err := s.dictSamples(ctx)
		if err != nil {
			return nil, err
		}
		content, newID := trainDict(samples)
		if content == nil {
			return nil, nil
		}
		if err := registerDict(newID, content); err != nil {
			return nil, err
		}
		err = s.db.Update(ctx, func(tx *bolt.Tx) error {
			b, err := db.Bucket(tx, db.BucketDicts)
			if err != nil {
				return err
			}
			return b.Put(binary.BigEndian.AppendUint32(nil, newID), content)
		})
		if err != nil {
			return nil, err
		}
		id = newID
	}
	v, ok := dicts.Load(id)
	if !ok {
		return nil, fmt.Errorf("zstd dictionary %d is stored but not loaded", id)
	}
	return v.(*storeDict), nil
}

// dictSamples returns the logical bytes of up to dictSamples packed
// values, spread over the store's packs, each verified.
func (s *Bolt) dictSamples(ctx context.Context) ([][]byte, error) {
	var samples [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		bk, err := openBuckets(tx)
		if err != nil {
			return err
		}
		packs := bk.packLive.Stats().KeyN
		perPack := max(8, dictSamples/max(1, packs))
		c := bk.packLive.Cursor()
		for k, _ := c.First(); k != nil && len(samples) < dictSamples; k, _ = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if bk.provisional.Get(packMarkOf(k)) != nil {
				continue
			}
			members, err := bk.liveMembers(k)
			if err != nil {
				return err
			}
			taken := 0
			for _, it := range members {
				if taken == perPack || len(samples) == dictSamples {
					break
				}
				h, err := parseValue(it.ref.digest, it.old)
				if err != nil {
					return err
				}
				if (h.format != formatRaw && h.format != formatZstd) || h.size < dictSampleMin || h.size > dictSampleMax {
					continue
				}
				b, err := decodeValue(it.ref.digest, h)
				if err != nil {
					return err
				}
				if looksRandom(b) {
					continue
				}
				samples = append(samples, bytes.Clone(b))
				taken++
			}
		}
		return nil
	})
	return samples, err
}

// trainDict builds a dictionary from samples, and its id: a hash of its
// training, in the range zstd leaves to private use. Nil if the samples
// are too few or zstd cannot build one from them.
func trainDict(samples [][]byte) (content []byte, id uint32) {
	if len(samples) < dictMinSamples {
		return nil, 0
	}
	// The history is what matches are found in: a spread of the
	// samples' beginnings, the last bytes the nearest (cheapest) to
	// match, as zstd's own trainer orders them.
	var history []byte
	const per = 1 << 10
	stride := max(1, len(samples)*per/dictHistory)
	for i := 0; i < len(samples) && len(history) < dictHistory; i += stride {
		b := samples[i]
		history = append(history, b[:min(len(b), per, dictHistory-len(history))]...)
	}
	sum := sha256.Sum256(history)
	const private = 32768 // ids below are zstd's registered range
	id = private + binary.BigEndian.Uint32(sum[:4])%(1<<31-private)
	if id == manifestDictID {
		id++
	}
	defer func() {
		// BuildDict is young and has panicked on some inputs: a
		// compaction then goes on without a dictionary.
		if recover() != nil {
			content, id = nil, 0
		}
	}()
	content, err := zstd.BuildDict(zstd.BuildDictOptions{ID: id, Contents: samples, History: history, Level: zstd.SpeedDefault})
	if err != nil {
		return nil, 0
	}
	return content, id
}
