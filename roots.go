package pf

import (
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// forEachImageRoot calls fn with every image the store keeps whatever the
// retention policy: the images tags name and the heads of workspaces. It
// is the one list of roots: Prune keeps them and their ancestors. A root
// may name an image that is gone (verify reports it); fn sees it all the
// same. what says which root it is, for messages.
func forEachImageRoot(tx *bolt.Tx, fn func(what string, id manifest.Digest) error) error {
	tags, err := db.Bucket(tx, db.BucketTags)
	if err != nil {
		return err
	}
	if err := tags.ForEach(func(name, v []byte) error {
		id, err := tagValue(string(name), v)
		if err != nil {
			return err
		}
		return fn("tag "+string(name), id)
	}); err != nil {
		return err
	}
	return forEachHead(tx, func(h Head) error {
		return fn("head of "+h.Dir+sessionSuffix(h.Session), h.ID)
	})
}

// forEachBlobRoot calls fn with every blob the store keeps though no
// image may reach it: the pinned blobs. GC marks them beside what the
// images reach.
func forEachBlobRoot(tx *bolt.Tx, fn func(d manifest.Digest) error) error {
	pins, err := db.Bucket(tx, db.BucketPins)
	if err != nil {
		return err
	}
	return pins.ForEach(func(k, v []byte) error {
		p, err := pinEntry(k, v)
		if err != nil {
			return err
		}
		return fn(p.Blob)
	})
}
