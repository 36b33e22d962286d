package pf

import (
	"sync"

	"github.com/processfork/pf/manifest"
)

// refCache remembers what a layer blob names. Blobs are immutable, so an
// entry never goes stale; it saves a repeat snapshot from parsing the same
// file tree and cache page list again inside the commit, which is where
// most of a warm snapshot's time went. It is bounded by the number of
// digests it holds, and simply emptied when full.
type refCache struct {
	mu    sync.Mutex
	refs  map[refKey][]manifest.Digest
	held  int
	limit int
}

type refKey struct {
	layer  string
	digest manifest.Digest
}

func newRefCache(limit int) *refCache {
	return &refCache{refs: map[refKey][]manifest.Digest{}, limit: limit}
}

// has reports whether c holds what blob d, found at layer, names.
func (c *refCache) has(layer string, d manifest.Digest) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.refs[refKey{layer, d}]
	return ok
}

// refs returns what blob d, found at layer, names; parse is called on a
// miss.
func (c *refCache) get(layer string, d manifest.Digest, parse func() ([]manifest.Digest, error)) ([]manifest.Digest, error) {
	k := refKey{layer, d}
	c.mu.Lock()
	refs, ok := c.refs[k]
	c.mu.Unlock()
	if ok {
		return refs, nil
	}
	refs, err := parse()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held+len(refs)+1 > c.limit {
		clear(c.refs)
		c.held = 0
	}
	c.refs[k] = refs
	c.held += len(refs) + 1
	return refs, nil
}
