package manifest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The dtypes of a page manifest, as the reference names them: its reader
// knows no others.
const (
	DtypeBF16    = "bf16"
	DtypeF16     = "f16"
	DtypeF32     = "f32"
	DtypeFP8E4M3 = "fp8e4m3"
)

// A CachePage is one page of the KV cache. Its K and V halves are separate
// blobs, so that pages shared between images are stored once.
type CachePage struct {
	Ix    int
	K, V  Digest
	Extra map[string]json.RawMessage // keys this package does not know, as in CachePages
}

// A LogicalSeq is one sequence (request) of the cache: the pages its
// tokens occupy, in order, and how many of the last page's token slots are
// filled (0: all of them).
type LogicalSeq struct {
	ID             string
	PageIxs        []int
	FillInLastPage int
	Extra          map[string]json.RawMessage // keys this package does not know, as in CachePages
}

// CachePages is the cache page manifest, the cache.manifest blob, as the
// reference writes it (pf-cache's PageManifest). Integer fields are zero
// and slices nil when the blob does not carry them or they are empty.
type CachePages struct {
	Layout         string
	PageSizeTokens int
	NLayers        int
	NHeads         int
	HeadDim        int
	Dtype          string // one of the Dtype constants to write it
	Pages          []CachePage
	LogicalSeqs    []LogicalSeq
	// PageSizeBytes is the page size in bytes that the reference's
	// synthetic fixture records instead of the fields above.
	PageSizeBytes int
	// Extra holds the keys that this package does not know, with their
	// JSON values, so that a page manifest read and written again loses
	// nothing.
	Extra map[string]json.RawMessage
}

// Encode validates c and returns its encoding, as the reference's
// serialize_pages writes it: pages sorted by ix and sequences by id (c is
// not modified), every field the reference's reader requires, and any
// Extra keys last, sorted:
//
//	{"layout":..,"page_size_tokens":N,"n_layers":N,"n_heads":N,"head_dim":N,"dtype":..,"pages":[{"ix":N,"k":"sha256:..","v":"sha256:.."},...],"logical_seqs":[{"id":..,"page_ixs":[N,...],"fill_in_last_page":N},...]}
//
// page_size_bytes follows layout when it is not zero. Dtype must be one of
// the Dtype constants. Errors wrap ErrInvalidCache.
func (c *CachePages) Encode() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCache, err)
	}
	pages := slices.Clone(c.Pages)
	slices.SortStableFunc(pages, func(a, b CachePage) int { return cmp.Compare(a.Ix, b.Ix) })
	seqs := slices.Clone(c.LogicalSeqs)
	slices.SortStableFunc(seqs, func(a, b LogicalSeq) int { return cmp.Compare(a.ID, b.ID) })

	b := make([]byte, 0, 256+len(pages)*160)
	b = append(b, `{"layout":`...)
	b = appendString(b, c.Layout)
	if c.PageSizeBytes != 0 {
		b = appendIntField(b, "page_size_bytes", c.PageSizeBytes)
	}
	b = appendIntField(b, "page_size_tokens", c.PageSizeTokens)
	b = appendIntField(b, "n_layers", c.NLayers)
	b = appendIntField(b, "n_heads", c.NHeads)
	b = appendIntField(b, "head_dim", c.HeadDim)
	b = append(b, `,"dtype":`...)
	b = appendString(b, c.Dtype)
	b = append(b, `,"pages":[`...)
	for i, p := range pages {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"ix":`...)
		b = strconv.AppendInt(b, int64(p.Ix), 10)
		b = append(b, `,"k":`...)
		b = appendDigest(b, p.K)
		b = append(b, `,"v":`...)
		b = appendDigest(b, p.V)
		b = appendExtra(b, p.Extra)
		b = append(b, '}')
	}
	b = append(b, `],"logical_seqs":[`...)
	for i, s := range seqs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendString(b, s.ID)
		b = append(b, `,"page_ixs":[`...)
		for j, ix := range s.PageIxs {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(ix), 10)
		}
		b = append(b, ']')
		b = appendIntField(b, "fill_in_last_page", s.FillInLastPage)
		b = appendExtra(b, s.Extra)
		b = append(b, '}')
	}
	b = append(b, ']')
	b = appendExtra(b, c.Extra)
	return append(b, '}'), nil
}

func appendIntField(b []byte, key string, n int) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, int64(n), 10)
}

// appendExtra appends the fields of extra, sorted by key, each after a
// comma. Their values were checked (checkExtra) and are written compact.
func appendExtra(b []byte, extra map[string]json.RawMessage) []byte {
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		b = append(b, ',')
		b = appendString(b, k)
		b = append(b, ':')
		var compact bytes.Buffer
		json.Compact(&compact, extra[k]) // valid: checkExtra
		b = append(b, compact.Bytes()...)
	}
	return b
}

var (
	cachePagesKeys = keySet{
		required:   []string{"layout", "pages"},
		optional:   []string{"page_size_bytes", "page_size_tokens", "n_layers", "n_heads", "head_dim", "dtype", "logical_seqs"},
		keepOthers: true,
	}
	pageKeys = keySet{required: []string{"ix", "k", "v"}, keepOthers: true}
	seqKeys  = keySet{required: []string{"id", "page_ixs", "fill_in_last_page"}, keepOthers: true}
)

func (c *CachePages) check() error {
	switch {
	case c.Layout == "":
		return fmt.Errorf("layout: empty")
	case !utf8.ValidString(c.Layout):
		return fmt.Errorf("layout: %s is not valid UTF-8", quote(c.Layout))
	}
	switch c.Dtype {
	case DtypeBF16, DtypeF16, DtypeF32, DtypeFP8E4M3:
	default:
		return fmt.Errorf("dtype: %s is none of %s, %s, %s, %s", quote(c.Dtype), DtypeBF16, DtypeF16, DtypeF32, DtypeFP8E4M3)
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
	if err := checkExtra("", &cachePagesKeys, c.Extra); err != nil {
		return err
	}
	for i, p := range c.Pages {
		if p.Ix < 0 {
			return fmt.Errorf("pages[%d].ix: negative (%d)", i, p.Ix)
		}
		if err := checkExtra(fmt.Sprintf("pages[%d].", i), &pageKeys, p.Extra); err != nil {
			return err
		}
	}
	for i, s := range c.LogicalSeqs {
		switch {
		case !utf8.ValidString(s.ID):
			return fmt.Errorf("logical_seqs[%d].id: %s is not valid UTF-8", i, quote(s.ID))
		case s.FillInLastPage < 0:
			return fmt.Errorf("logical_seqs[%d].fill_in_last_page: negative (%d)", i, s.FillInLastPage)
		}
		for j, ix := range s.PageIxs {
			if ix < 0 {
				return fmt.Errorf("logical_seqs[%d].page_ixs[%d]: negative (%d)", i, j, ix)
			}
		}
		if err := checkExtra(fmt.Sprintf("logical_seqs[%d].", i), &seqKeys, s.Extra); err != nil {
			return err
		}
	}
	return nil
}

// checkExtra checks that extra's keys are valid UTF-8 and none a known
// key (which Encode writes from its field), and that its values are JSON.
func checkExtra(at string, known *keySet, extra map[string]json.RawMessage) error {
	for k, v := range extra {
		switch {
		case !utf8.ValidString(k):
			return fmt.Errorf("%s%s: key is not valid UTF-8", at, quote(k))
		case slices.Contains(known.required, k) || slices.Contains(known.optional, k):
			return fmt.Errorf("%s%s: a known key in Extra", at, k)
		case !json.Valid(v) || !utf8.Valid(v):
			return fmt.Errorf("%s%s: value is not valid JSON", at, k)
		}
	}
	return nil
}

// DecodeCachePages reads a cache page manifest: an object with a non-empty
// string layout and a pages array of {"ix","k","v"}, each page's ix a
// non-negative integer and k and v valid digests. The other fields of the
// reference's format (the size fields, dtype, logical_seqs, each sequence
// {"id","page_ixs","fill_in_last_page"}) are optional but must have the
// right type when present; dtype may be any string. Unknown keys are kept
// in the Extra fields. Errors wrap ErrInvalidCache.
func DecodeCachePages(b []byte) (*CachePages, error) {
	c, err := decodeCachePages(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCache, err)
	}
	return c, nil
}

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
			var s rawString
			s, err = r.rawString(at)
			c.Dtype = s.intern(DtypeBF16, DtypeF16, DtypeF32, DtypeFP8E4M3)
		case "pages":
			err = r.array(at, func(i int, at loc) error {
				p, err := r.page(at)
				c.Pages = append(c.Pages, p)
				return err
			})
		case "logical_seqs":
			err = r.array(at, func(i int, at loc) error {
				s, err := r.logicalSeq(at)
				c.LogicalSeqs = append(c.LogicalSeqs, s)
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
		default:
			c.Extra, err = r.keep(c.Extra, key, at)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (r *reader) page(at loc) (CachePage, error) {
	var p CachePage
	err := r.object(at, &pageKeys, func(key string, at loc) (err error) {
		switch key {
		case "ix":
			p.Ix, err = r.size(at)
		case "k":
			p.K, err = r.digest(at)
		case "v":
			p.V, err = r.digest(at)
		default:
			p.Extra, err = r.keep(p.Extra, key, at)
		}
		return err
	})
	return p, err
}

func (r *reader) logicalSeq(at loc) (LogicalSeq, error) {
	var s LogicalSeq
	err := r.object(at, &seqKeys, func(key string, at loc) (err error) {
		switch key {
		case "id":
			s.ID, err = r.string(at)
		case "page_ixs":
			err = r.array(at, func(i int, at loc) error {
				ix, err := r.size(at)
				s.PageIxs = append(s.PageIxs, ix)
				return err
			})
		case "fill_in_last_page":
			s.FillInLastPage, err = r.size(at)
		default:
			s.Extra, err = r.keep(s.Extra, key, at)
		}
		return err
	})
	return s, err
}

// keep reads the value of an unknown key into extra, compact.
func (r *reader) keep(extra map[string]json.RawMessage, key string, at loc) (map[string]json.RawMessage, error) {
	raw, err := r.raw(at)
	if err != nil {
		return extra, err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return extra, at.syntax(err)
	}
	if extra == nil {
		extra = map[string]json.RawMessage{}
	}
	extra[key] = compact.Bytes()
	return extra, nil
}

// size reads a non-negative integer into an int.
func (r *reader) size(at loc) (int, error) {
	n, err := r.nonNegative(at)
	return int(n), err
}
