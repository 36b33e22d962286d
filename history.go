package pf

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/index"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// LogQuery selects images by creation time, for Log and Ancestry.
type LogQuery struct {
	// Since and Until bound created_at to [Since, Until); a zero time
	// leaves that side open. The window filters what is listed; it never
	// stops a walk.
	Since, Until time.Time
	// Limit caps how many entries one call returns; zero or less means
	// no cap.
	Limit int
	// Reverse lists oldest first; the default is newest first. Images
	// created at the same instant are ordered by id.
	Reverse bool
	// Cursor continues a listing: pass the next value the previous page
	// returned, with the same query otherwise. Empty starts at the top.
	Cursor string
}

// LogEntry is one image of a listing.
type LogEntry struct {
	Image
}

// Log lists the images created inside q's window, newest first unless
// q.Reverse, at most q.Limit of them. next is the cursor of the following
// page, or "" when this page is the last. Log is a range scan of the time
// index: its cost grows with the number of images it returns, not with the
// size of the store.
func (s *Store) Log(ctx context.Context, q LogQuery) (entries []LogEntry, next string, err error) {
	r, err := timeRange(q)
	if err != nil {
		return nil, "", err
	}
	var lastKey []byte
	err = s.db.View(func(tx *bolt.Tx) error {
		manifests, err := db.Bucket(tx, db.BucketManifests)
		if err != nil {
			return err
		}
		// The scan collects the values of a batch of images, which are
		// then decoded together on every core.
		var (
			ids    []manifest.Digest
			values [][]byte
		)
		flush := func() error {
			imgs, err := imagesOfValues(ids, values)
			for _, img := range imgs {
				entries = append(entries, LogEntry{*img})
			}
			ids, values = ids[:0], values[:0]
			return err
		}
		err = index.ScanTime(tx, r, func(key []byte, id manifest.Digest) (bool, error) {
			if q.Limit > 0 && len(entries)+len(ids) == q.Limit {
				// There is one more: the page ends after the last one kept.
				next = encodeCursor(lastKey, q.Reverse)
				return false, nil
			}
			if err := ctx.Err(); err != nil {
				return false, err
			}
			v := manifests.Get(id[:])
			if v == nil {
				return false, fmt.Errorf("index/time names image %s, which has no manifest: %w", id, ErrCorrupt)
			}
			ids, values = append(ids, id), append(values, v)
			lastKey = append(lastKey[:0], key...)
			if len(ids) == logBatch {
				return true, flush()
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		return flush()
	})
	if err != nil {
		return nil, "", err
	}
	return entries, next, nil
}

// A Summary is what a listing shows of an image, read from the time
// index alone: pf verify checks it against the image's manifest.
type Summary struct {
	ID        manifest.Digest
	CreatedAt time.Time // in UTC
	Agent     manifest.Agent
	Parents   []manifest.Digest // in the manifest's order
}

// Summary is the image's summary, as Summaries lists it.
func (img *Image) Summary() Summary {
	m := img.Manifest
	return Summary{ID: img.ID, CreatedAt: m.CreatedAt.UTC(), Agent: m.Agent, Parents: m.Parents}
}

// Summaries is Log for a listing that needs no more of each image than
// its Summary: each is read from the time index's value, beside the key
// the scan visits, so that no manifest is decompressed, hashed or parsed.
// The query, order and cursors are Log's. An image filed by a pf before
// summaries were kept has none: its manifest is read.
func (s *Store) Summaries(ctx context.Context, q LogQuery) (out []Summary, next string, err error) {
	r, err := timeRange(q)
	if err != nil {
		return nil, "", err
	}
	if q.Limit > 0 {
		out = make([]Summary, 0, min(q.Limit, logBatch))
	}
	var lastKey []byte
	err = s.db.View(func(tx *bolt.Tx) error {
		return index.ScanSummaries(tx, r, func(key []byte, sum index.Summary, ok bool) (bool, error) {
			if q.Limit > 0 && len(out) == q.Limit {
				// There is one more: the page ends after the last one kept.
				next = encodeCursor(lastKey, q.Reverse)
				return false, nil
			}
			if err := ctx.Err(); err != nil {
				return false, err
			}
			if !ok {
				img, err := imageTx(tx, sum.ID)
				if err != nil {
					return false, fmt.Errorf("index/time names image %s: %w", sum.ID, err)
				}
				sum = index.SummaryOf(sum.ID, img.Manifest)
			}
			out = append(out, Summary(sum))
			lastKey = append(lastKey[:0], key...)
			return true, nil
		})
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// logBatch is how many images Log decodes at a time: enough to share
// among the cores, few enough that a listing of a whole store holds
// little more than the entries it returns.
const logBatch = 256

// Ancestry lists the images ids and all their ancestors, each once, in the
// order of Log (newest created_at first, ties by id) and filtered by q's
// window. The window is a filter only: every ancestor is visited, so an
// image inside the window is listed even when the images between it and
// ids lie outside it, as when clocks were skewed and a parent claims to be
// newer than its child. The walk reads the manifest of every ancestor,
// whatever the window or limit.
func (s *Store) Ancestry(ctx context.Context, ids []manifest.Digest, q LogQuery) (entries []LogEntry, next string, err error) {
	r, err := timeRange(q)
	if err != nil {
		return nil, "", err
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		// Without a limit every image found is listed: keep each as it is
		// read. With one, keep only keys, and read again the few listed.
		found, err := walkAncestry(ctx, tx, ids, r, q.Limit <= 0)
		if err != nil {
			return err
		}
		slices.SortFunc(found, func(a, b ancestor) int {
			if q.Reverse {
				return bytes.Compare(a.key, b.key)
			}
			return bytes.Compare(b.key, a.key)
		})
		if q.Limit > 0 && len(found) > q.Limit {
			found = found[:q.Limit]
			next = encodeCursor(found[len(found)-1].key, q.Reverse)
		}
		entries = make([]LogEntry, len(found))
		for i, a := range found {
			if a.img == nil {
				_, id, _ := index.ParseTimeKey(a.key)
				if a.img, err = imageTx(tx, id); err != nil {
					return err
				}
			}
			entries[i] = LogEntry{*a.img}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return entries, next, nil
}

// ancestor is an image an ancestry walk found inside its range: its key in
// index/time and, if the walk kept it, the image.
type ancestor struct {
	key []byte
	img *Image
}

// walkAncestry walks from ids through every parent and returns the images
// visited that r contains, keeping the images themselves if keep is set.
func walkAncestry(ctx context.Context, tx *bolt.Tx, ids []manifest.Digest, r index.TimeRange, keep bool) ([]ancestor, error) {
	manifests, err := db.Bucket(tx, db.BucketManifests)
	if err != nil {
		return nil, err
	}
	shallow, err := db.Bucket(tx, db.BucketShallow)
	if err != nil {
		return nil, err
	}
	seen := make(map[manifest.Digest]bool, len(ids))
	stack := make([]manifest.Digest, 0, len(ids))
	for _, id := range ids {
		if manifests.Get(id[:]) == nil {
			return nil, fmt.Errorf("image %s: %w", id, ErrNotFound)
		}
		if !seen[id] {
			seen[id] = true
			stack = append(stack, id)
		}
	}
	var found []ancestor
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		img, err := imageTx(tx, id)
		if errors.Is(err, ErrNotFound) {
			// Commit checks that parents exist: a missing one is damage.
			return nil, fmt.Errorf("an ancestor, image %s, has no manifest: %w", id, ErrCorrupt)
		}
		if err != nil {
			return nil, err
		}
		if k := index.TimeKey(img.Manifest.CreatedAt, id); r.Contains(k) {
			a := ancestor{key: k}
			if keep {
				a.img = img
			}
			found = append(found, a)
		}
		for _, p := range img.Manifest.Parents {
			if seen[p] {
				continue
			}
			seen[p] = true
			if manifests.Get(p[:]) == nil && shallow.Get(id[:]) != nil {
				continue // received without it: the history known here ends
			}
			stack = append(stack, p)
		}
	}
	return found, nil
}

// Children lists the images that name id as a parent, in the order of
// their ids.
func (s *Store) Children(ctx context.Context, id manifest.Digest) ([]manifest.Digest, error) {
	var out []manifest.Digest
	err := s.db.View(func(tx *bolt.Tx) error {
		manifests, err := db.Bucket(tx, db.BucketManifests)
		if err != nil {
			return err
		}
		if manifests.Get(id[:]) == nil {
			return fmt.Errorf("image %s: %w", id, ErrNotFound)
		}
		out, err = index.Children(tx, id)
		return err
	})
	return out, err
}

// Roots lists the images without parents, in the order of their ids.
func (s *Store) Roots(ctx context.Context) ([]manifest.Digest, error) {
	var out []manifest.Digest
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		out, err = index.Roots(tx)
		return err
	})
	return out, err
}

func timeRange(q LogQuery) (index.TimeRange, error) {
	r := index.TimeRange{Since: q.Since, Until: q.Until, Reverse: q.Reverse}
	if q.Cursor == "" {
		return r, nil
	}
	after, err := decodeCursor(q.Cursor, q.Reverse)
	if err != nil {
		return r, err
	}
	r.After = after
	return r, nil
}

// A cursor is the time key of the last entry of a page behind one byte
// that records the order it was made for, in URL-safe base64. It stays
// valid while images are added: the next page starts strictly after it.
const (
	cursorNewestFirst = 'n'
	cursorOldestFirst = 'o'
)

func encodeCursor(key []byte, reverse bool) string {
	order := byte(cursorNewestFirst)
	if reverse {
		order = cursorOldestFirst
	}
	return base64.RawURLEncoding.EncodeToString(append([]byte{order}, key...))
}

func decodeCursor(cursor string, reverse bool) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%w %q", ErrInvalidCursor, cursor)
	}
	if _, _, ok := index.ParseTimeKey(b[1:]); !ok || b[0] != cursorNewestFirst && b[0] != cursorOldestFirst {
		return nil, fmt.Errorf("%w %q", ErrInvalidCursor, cursor)
	}
	if (b[0] == cursorOldestFirst) != reverse {
		return nil, fmt.Errorf("%w %q: it continues a listing in the other order", ErrInvalidCursor, cursor)
	}
	return b[1:], nil
}

// A Node is an image's place in the history, as the indexes hold it.
type Node struct {
	ID        manifest.Digest
	CreatedAt time.Time
	// Parents are in the order of their ids, not necessarily the
	// manifest's.
	Parents []manifest.Digest
}

// Nodes lists every image newest first (the order of Log) with its
// parents, from the time and parent indexes alone, reading no manifest:
// the shape of a history of any length, for drawing it.
func (s *Store) Nodes(ctx context.Context) ([]Node, error) {
	var nodes []Node
	err := s.db.View(func(tx *bolt.Tx) error {
		at := map[manifest.Digest]int{}
		err := index.ScanTime(tx, index.TimeRange{}, func(key []byte, id manifest.Digest) (bool, error) {
			created, _, ok := index.ParseTimeKey(key)
			if !ok {
				return false, fmt.Errorf("index/time: key %x: %w", key, ErrCorrupt)
			}
			at[id] = len(nodes)
			nodes = append(nodes, Node{ID: id, CreatedAt: created})
			return true, ctx.Err()
		})
		if err != nil {
			return err
		}
		return index.Edges(tx, func(parent, child manifest.Digest) error {
			if i, ok := at[child]; ok {
				nodes[i].Parents = append(nodes[i].Parents, parent)
			}
			return nil
		})
	})
	return nodes, err
}
