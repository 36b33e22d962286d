package cas

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/klauspost/compress/dict"
	"github.com/klauspost/compress/zstd"
	"github.com/processfork/pf/internal/db"
	bolt "go.etcd.io/bbolt"
)

// A store's dictionary: zstd compresses each value alone, and a value of
// a few KiB (a source file, a small text) has little in itself to match
// against. Compaction trains a dictionary on the store's own small
// values, keeps it in dicts/ and compresses those values against it at
// CompactLevel. On a copy of $GOROOT/src, its files up to 128 KiB store
// 22.4 MB at CompactLevel alone; 20.8 MB against the 50 KB dictionary
// zstd.BuildDict made of the samples' beginnings at SpeedBetterCompression
// (the dictionary of stores compacted before), 19.9 MB against that one at
// CompactLevel, 19.3 MB against dict.BuildZstdDict's of 64 KiB, which
// keeps the substrings the samples share most, 19.1 MB against its 110
// KiB (zstd's usual size), 18.8 MB against its 256 KiB and 18.6 MB when
// it indexes matches of 8 bytes, not 6. The whole store after pf compact:
// 32.7 MiB before, 30.7 MiB now, for a compaction about 4 times as long
// (10 s, 37 s): the strongest level, and the dictionary loaded for every
// value. A store compacted before keeps its dictionary, now used at
// CompactLevel.
//
// A value compressed so is an ordinary zstd value (format 0x01) whose
// frame header names the dictionary's id; reads find the dictionary by
// that id. A store keeps the first dictionary it trains and never
// deletes it, so that no value can outlive its dictionary.
const (
	dictHistory    = 256 << 10 // the dictionary's content, at most
	dictSampleMax  = 16 << 10  // the longest value trained on
	dictSampleMin  = 64        // the shortest
	dictSamples    = 2000      // values trained on, at most
	dictMinSamples = 100       // fewer: no dictionary
	dictValueMax   = InlineMax // longer values are chunks, compressed without it
)

// dictLevel is the level values are compressed at against the
// dictionary: CompactLevel's own, where the dictionary pays most.
const dictLevel = CompactLevel

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
// content, in the range zstd leaves to private use. Nil if the samples
// are too few or no dictionary can be built from them.
func trainDict(samples [][]byte) (content []byte, id uint32) {
	if len(samples) < dictMinSamples {
		return nil, 0
	}
	defer func() {
		// The builder is experimental and may panic on some inputs:
		// a compaction then goes on without a dictionary.
		if recover() != nil {
			content, id = nil, 0
		}
	}()
	const placeholderID = 1 // replaced below: the builder takes 0 as "random"
	content, err := dict.BuildZstdDict(samples, dict.Options{
		MaxDictSize:    dictHistory,
		HashBytes:      8, // its longest; its default, 6, stores more (above)
		ZstdDictID:     placeholderID,
		ZstdDictCompat: true, // readable by zstd 1.5.5 and older too
		ZstdLevel:      dictLevel,
	})
	// A dictionary starts with zstd's magic number, then its id (RFC
	// 8878, 5). The builder's choices vary from run to run, so the id
	// is drawn from what it built: two different dictionaries under one
	// id could not be open at once (registerDict).
	if err != nil || len(content) < 8 || binary.LittleEndian.Uint32(content) != 0xEC30A437 ||
		binary.LittleEndian.Uint32(content[4:]) != placeholderID {
		return nil, 0
	}
	sum := sha256.Sum256(content)
	const private = 32768 // ids below are zstd's registered range
	id = private + binary.BigEndian.Uint32(sum[:4])%(1<<31-private)
	if id == manifestDictID {
		id++
	}
	binary.LittleEndian.PutUint32(content[4:], id)
	return content, id
}
