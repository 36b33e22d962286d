package pf

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/processfork/pf/internal/index"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// Image is a committed manifest: its id, its exact bytes, and their parse.
type Image struct {
	ID       manifest.Digest
	Raw      []byte
	Manifest *manifest.Manifest
}

// Image reads image id.
func (s *Store) Image(ctx context.Context, id manifest.Digest) (*Image, error) {
	var img *Image
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		img, err = imageTx(tx, id)
		return err
	})
	return img, err
}

func imageTx(tx *bolt.Tx, id manifest.Digest) (*Image, error) {
	e, err := index.Get(tx, id)
	if err != nil {
		return nil, err
	}
	return &Image{ID: id, Raw: e.Raw, Manifest: e.Manifest}, nil
}

// imageOfValue decodes, verifies and parses a manifests/ value.
func imageOfValue(id manifest.Digest, v []byte) (*Image, error) {
	e, err := index.Decode(id, v)
	if err != nil {
		return nil, err
	}
	return &Image{ID: id, Raw: e.Raw, Manifest: e.Manifest}, nil
}

// HasImage reports whether image id is in the store.
func (s *Store) HasImage(ctx context.Context, id manifest.Digest) (bool, error) {
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		ok = index.Has(tx, id)
		return nil
	})
	return ok, err
}

// imagesOfValues is imageOfValue of many values, on every core: a listing
// spends nearly all its time decompressing, hashing and parsing
// manifests, each independent of the others. The values may lie in a
// transaction's memory, which the caller keeps open.
func imagesOfValues(ids []manifest.Digest, values [][]byte) ([]*Image, error) {
	imgs := make([]*Image, len(ids))
	errs := make([]error, len(ids))
	// Below a few dozen images a second goroutine costs more than it saves.
	workers := min(runtime.GOMAXPROCS(0), len(ids)/32+1)
	if workers == 1 {
		for i, id := range ids {
			if imgs[i], errs[i] = imageOfValue(id, values[i]); errs[i] != nil {
				return nil, errs[i]
			}
		}
		return imgs, nil
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(ids); i = int(next.Add(1) - 1) {
				imgs[i], errs[i] = imageOfValue(ids[i], values[i])
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return imgs, nil
}
