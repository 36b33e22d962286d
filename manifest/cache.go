package manifest

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// A CachePage is one page of the KV cache. Its K and V halves are separate
// blobs, so that pages shared between images are stored once.
type CachePage struct {
	Ix   int
	K, V Digest
}

// CachePages is the cache page manifest, the cache.manifest blob. Integer
// fields are zero when the blob does not carry them.
type CachePages struct {
	Layout         string
	PageSizeBytes  int
	PageSizeTokens int
	NLayers        int
	NHeads         int
	HeadDim        int
	Dtype          string
	Pages          []CachePage
}

// Encode validates c and returns its encoding, pages in the order given:
//
//	{"layout":..,"page_size_bytes":N,"page_size_tokens":N,"n_layers":N,"n_heads":N,"head_dim":N,"dtype":..,"pages":[{"ix":N,"k":"sha256:..","v":"sha256:.."},...]}
//
// Each page_size_* field is written only when it is not zero; the others
// always are. Errors wrap ErrInvalidCache.
func (c *CachePages) Encode() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCache, err)
	}
	b := make([]byte, 0, 256+len(c.Pages)*160)
	b = append(b, `{"layout":`...)
	b = appendString(b, c.Layout)
	if c.PageSizeBytes != 0 {
		b = append(b, `,"page_size_bytes":`...)
		b = strconv.AppendInt(b, int64(c.PageSizeBytes), 10)
	}
	if c.PageSizeTokens != 0 {
		b = append(b, `,"page_size_tokens":`...)
		b = strconv.AppendInt(b, int64(c.PageSizeTokens), 10)
	}
	b = append(b, `,"n_layers":`...)
	b = strconv.AppendInt(b, int64(c.NLayers), 10)
	b = append(b, `,"n_heads":`...)
	b = strconv.AppendInt(b, int64(c.NHeads), 10)
	b = append(b, `,"head_dim":`...)
	b = strconv.AppendInt(b, int64(c.HeadDim), 10)
	b = append(b, `,"dtype":`...)
	b = appendString(b, c.Dtype)
	b = append(b, `,"pages":[`...)
	for i, p := range c.Pages {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"ix":`...)
		b = strconv.AppendInt(b, int64(p.Ix), 10)
		b = append(b, `,"k":`...)
		b = appendDigest(b, p.K)
		b = append(b, `,"v":`...)
		b = appendDigest(b, p.V)
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

func (c *CachePages) check() error {
	switch {
	case c.Layout == "":
		return fmt.Errorf("layout: empty")
	case !utf8.ValidString(c.Layout):
		return fmt.Errorf("layout: %s is not valid UTF-8", quote(c.Layout))
	case !utf8.ValidString(c.Dtype):
		return fmt.Errorf("dtype: %s is not valid UTF-8", quote(c.Dtype))
	}
	for _, f := range [...]struct {
		name string
		n    int
	}{
		{"page_size_bytes", c.PageSizeBytes},
		{"page_size_tokens", c.PageSizeTokens},
		{"n_layers", c.NLayers},
		{"n_heads", c.NHeads},
		{"head_dim", c.HeadDim},
	} {
		if f.n < 0 {
			return fmt.Errorf("%s: negative (%d)", f.name, f.n)
		}
	}
	for i, p := range c.Pages {
		if p.Ix < 0 {
			return fmt.Errorf("pages[%d].ix: negative (%d)", i, p.Ix)
		}
	}
	return nil
}

// DecodeCachePages reads a cache page manifest: an object with a non-empty
// string layout and a pages array of {"ix","k","v"}, each page's ix a
// non-negative integer and k and v valid digests. The size fields and dtype
// are optional but must have the right type when present. Unknown keys,
// such as logical_seqs, are ignored. Errors wrap ErrInvalidCache.
func DecodeCachePages(b []byte) (*CachePages, error) {
	c, err := decodeCachePages(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCache, err)
	}
	return c, nil
}

var (
	cachePagesKeys = keySet{
		required: []string{"layout", "pages"},
		optional: []string{"page_size_bytes", "page_size_tokens", "n_layers", "n_heads", "head_dim", "dtype"},
	}
	pageKeys = keySet{required: []string{"ix", "k", "v"}}
)

func decodeCachePages(b []byte) (*CachePages, error) {
	r := newReader(b)
	c := new(CachePages)
	err := r.document(&cachePagesKeys, func(key string, at loc) (err error) {
		switch key {
		case "layout":
			var s rawString
			s, err = r.rawString(at)
			c.Layout = s.intern(DefaultCacheLayout)
			if err == nil && c.Layout == "" {
				err = fmt.Errorf("%s: empty", at)
			}
		case "dtype":
			c.Dtype, err = r.string(at)
		case "pages":
			err = r.array(at, func(i int, at loc) error {
				var p CachePage
				err := r.object(at, &pageKeys, func(key string, at loc) (err error) {
					switch key {
					case "ix":
						p.Ix, err = r.size(at)
					case "k":
						p.K, err = r.digest(at)
					case "v":
						p.V, err = r.digest(at)
					}
					return err
				})
				c.Pages = append(c.Pages, p)
				return err
			})
		case "page_size_bytes":
			c.PageSizeBytes, err = r.size(at)
		case "page_size_tokens":
			c.PageSizeTokens, err = r.size(at)
		case "n_layers":
			c.NLayers, err = r.size(at)
		case "n_heads":
			c.NHeads, err = r.size(at)
		case "head_dim":
			c.HeadDim, err = r.size(at)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// size reads a non-negative integer into an int.
func (r *reader) size(at loc) (int, error) {
	n, err := r.nonNegative(at)
	return int(n), err
}
