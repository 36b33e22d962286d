package pf

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// A Head is the newest image of a workspace directory in one session: what
// `pf snapshot --fs-root DIR` takes as the parent of the next snapshot of
// DIR, what `pf status DIR` compares DIR with, and what `pf restore` moves.
// Heads are kept in the store, never in the workspace, and are roots for
// Prune, like tags.
type Head struct {
	// Dir is the workspace: an absolute path, symbolic links resolved
	// (see WorkspaceDir).
	Dir string
	// Session tells apart heads of one directory kept side by side (one
	// per task of an agent, say); "" is the default session.
	Session string
	ID      manifest.Digest
	// Updated is when the head was last set.
	Updated time.Time
}

// MaxSessionName is the longest session name, in bytes.
const MaxSessionName = 200

// ValidateSessionName checks a session name: "" (the default session), or
// at most MaxSessionName bytes of UTF-8 without control characters. The
// error wraps ErrInvalidSession.
func ValidateSessionName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %s: %s", ErrInvalidSession, strconv.Quote(name), why)
	}
	switch {
	case len(name) > MaxSessionName:
		return bad(fmt.Sprintf("%d bytes, at most %d", len(name), MaxSessionName))
	case !utf8.ValidString(name):
		return bad("not valid UTF-8")
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return bad("contains a control character")
	}
	return nil
}

// WorkspaceDir is the form of a directory that heads are kept under: dir
// made absolute and clean, with symbolic links resolved when it exists, so
// that every way of naming one directory finds the same head. A relative
// dir is taken from the process's working directory.
func WorkspaceDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real, nil
	}
	return abs, nil
}

// headKey is a heads/ key: the directory, a NUL (which no path holds),
// the session.
func headKey(dir, session string) []byte {
	k := make([]byte, 0, len(dir)+1+len(session))
	k = append(k, dir...)
	k = append(k, 0)
	return append(k, session...)
}

func parseHeadKey(k []byte) (dir, session string, ok bool) {
	i := bytes.IndexByte(k, 0)
	if i < 0 {
		return "", "", false
	}
	return string(k[:i]), string(k[i+1:]), true
}

// A heads/ value: the image id, then when it was set (Unix ns, big-endian).
const headValueSize = 32 + 8

func encodeHead(id manifest.Digest, updated time.Time) []byte {
	v := make([]byte, 0, headValueSize)
	v = append(v, id[:]...)
	return binary.BigEndian.AppendUint64(v, uint64(updated.UnixNano()))
}

func decodeHead(dir, session string, v []byte) (Head, error) {
	if len(v) != headValueSize {
		return Head{}, fmt.Errorf("head of %s%s: value of %d bytes: %w", dir, sessionSuffix(session), len(v), ErrCorrupt)
	}
	return Head{Dir: dir, Session: session, ID: manifest.Digest(v[:32]),
		Updated: time.Unix(0, int64(binary.BigEndian.Uint64(v[32:])))}, nil
}

func sessionSuffix(session string) string {
	if session == "" {
		return ""
	}
	return " (session " + strconv.Quote(session) + ")"
}

// checkHeadArgs checks a head's directory and session as the Store's head
// methods take them.
func checkHeadArgs(dir, session string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("head: workspace directory %q is not absolute (see WorkspaceDir)", dir)
	}
	if strings.IndexByte(dir, 0) >= 0 {
		return fmt.Errorf("head: workspace directory %q contains NUL", dir)
	}
	return ValidateSessionName(session)
}

// Head returns the head of dir in session; ok is false when there is none.
// dir is taken as given: pass it through WorkspaceDir first.
func (s *Store) Head(ctx context.Context, dir, session string) (h Head, ok bool, err error) {
	if err := checkHeadArgs(dir, session); err != nil {
		return Head{}, false, err
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		heads, err := db.Bucket(tx, db.BucketHeads)
		if err != nil {
			return err
		}
		v := heads.Get(headKey(dir, session))
		if v == nil {
			return nil
		}
		h, err = decodeHead(dir, session, v)
		ok = err == nil
		return err
	})
	return h, ok, err
}

// SetHead points the head of dir in session at image id, creating it or
// moving it, and returns the image it named before (zero if it is new).
// The image must be in the store.
func (s *Store) SetHead(ctx context.Context, dir, session string, id manifest.Digest) (previous manifest.Digest, err error) {
	if err := checkHeadArgs(dir, session); err != nil {
		return manifest.Digest{}, err
	}
	err = s.db.Update(ctx, func(tx *bolt.Tx) error {
		previous, err = setHeadTx(tx, dir, session, id, time.Now())
		return err
	})
	return previous, err
}

// setHeadTx is SetHead inside a transaction. It is repeatable, as a group
// commit needs.
func setHeadTx(tx *bolt.Tx, dir, session string, id manifest.Digest, now time.Time) (previous manifest.Digest, err error) {
	manifests, err := db.Bucket(tx, db.BucketManifests)
	if err != nil {
		return previous, err
	}
	if manifests.Get(id[:]) == nil {
		return previous, fmt.Errorf("head of %s%s: image %s: %w", dir, sessionSuffix(session), id, ErrNotFound)
	}
	heads, err := db.Bucket(tx, db.BucketHeads)
	if err != nil {
		return previous, err
	}
	k := headKey(dir, session)
	if v := heads.Get(k); v != nil {
		old, err := decodeHead(dir, session, v)
		if err != nil {
			return previous, err
		}
		previous = old.ID
	}
	return previous, heads.Put(k, encodeHead(id, now))
}

// DeleteHead forgets the head of dir in session, so that its image is no
// longer kept by Prune for it, and returns the image it named. A missing
// head is an error wrapping ErrNotFound.
func (s *Store) DeleteHead(ctx context.Context, dir, session string) (manifest.Digest, error) {
	if err := checkHeadArgs(dir, session); err != nil {
		return manifest.Digest{}, err
	}
	var id manifest.Digest
	err := s.db.Update(ctx, func(tx *bolt.Tx) error {
		heads, err := db.Bucket(tx, db.BucketHeads)
		if err != nil {
			return err
		}
		k := headKey(dir, session)
		v := heads.Get(k)
		if v == nil {
			return fmt.Errorf("head of %s%s: %w", dir, sessionSuffix(session), ErrNotFound)
		}
		h, err := decodeHead(dir, session, v)
		if err != nil {
			return err
		}
		id = h.ID
		return heads.Delete(k)
	})
	return id, err
}

// Heads lists every head, by directory then session.
func (s *Store) Heads(ctx context.Context) ([]Head, error) {
	var out []Head
	err := s.db.View(func(tx *bolt.Tx) error {
		out = out[:0]
		return forEachHead(tx, func(h Head) error {
			out = append(out, h)
			return nil
		})
	})
	return out, err
}

// forEachHead calls fn with each head, in key order.
func forEachHead(tx *bolt.Tx, fn func(Head) error) error {
	heads, err := db.Bucket(tx, db.BucketHeads)
	if err != nil {
		return err
	}
	return heads.ForEach(func(k, v []byte) error {
		dir, session, ok := parseHeadKey(k)
		if !ok {
			return fmt.Errorf("heads: key %q has no NUL: %w", k, ErrCorrupt)
		}
		h, err := decodeHead(dir, session, v)
		if err != nil {
			return err
		}
		return fn(h)
	})
}
