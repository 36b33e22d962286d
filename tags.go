package pf

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// A Tag names an image. Tags are how people refer to images they care
// about (`pf log main`), and the roots that garbage collection keeps.
type Tag struct {
	Name string
	ID   manifest.Digest
}

// MaxTagName is the longest tag name, in bytes.
const MaxTagName = 200

// ValidateTagName checks a tag name against rules modelled on git's for
// refs, so that a name can always be typed on a command line and never
// reads as something else: not empty, at most MaxTagName bytes of UTF-8,
// no white space or control characters, none of ~ ^ : ? * [ \, no "..",
// "//" or "@{", not starting with '-', '.' or '/', not ending with '.', '/'
// or ".lock", not HEAD or @ (IsHeadName), and not MinPrefix or more hex
// digits in either case (which would read as an image id or a prefix of
// one: "pf show 4ab2ee" must never mean a tag in one store and an image in
// another). The error wraps ErrInvalidTagName.
func ValidateTagName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %s: %s", ErrInvalidTagName, strconv.Quote(name), why)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxTagName:
		return bad(fmt.Sprintf("%d bytes, at most %d", len(name), MaxTagName))
	case !utf8.ValidString(name):
		return bad("not valid UTF-8")
	case name[0] == '-':
		return bad("starts with '-' (it would read as a flag)")
	case name[0] == '.' || name[0] == '/':
		return bad(fmt.Sprintf("starts with %q", name[0]))
	case strings.HasSuffix(name, ".") || strings.HasSuffix(name, "/"):
		return bad(fmt.Sprintf("ends with %q", name[len(name)-1]))
	case strings.HasSuffix(name, ".lock"):
		return bad(`ends with ".lock"`)
	case IsHeadName(name):
		return bad("it names a workspace's head, as in git")
	case isHex(strings.ToLower(name)) && len(name) == 2*len(manifest.Digest{}):
		return bad("64 hex digits read as an image id")
	case isHex(strings.ToLower(name)) && len(name) >= MinPrefix:
		return bad(fmt.Sprintf("%d or more hex digits read as an image id prefix", MinPrefix))
	}
	for _, seq := range []string{"..", "//", "@{"} {
		if strings.Contains(name, seq) {
			return bad(fmt.Sprintf("contains %q", seq))
		}
	}
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0:
			return bad(fmt.Sprintf("contains the control character %U", r))
		case r == ' ' || r == '\u00a0' || r == '\u2028' || r == '\u2029' || r == '\u3000' || r >= '\u2000' && r <= '\u200a':
			return bad("contains white space")
		case strings.ContainsRune(`~^:?*[\`, r):
			return bad(fmt.Sprintf("contains %q", r))
		}
	}
	return nil
}

// IsHeadName reports whether name is what the pf command line calls a
// workspace's head in an image argument, as git calls its checked-out
// commit: "HEAD", or "@" for short (HEAD~1 is the head's parent). No tag
// takes either name, so that neither ever means a tag in one store and
// the head in another.
func IsHeadName(name string) bool { return name == "HEAD" || name == "@" }

// Tag points the tag name at image id, creating the tag or moving it, and
// returns the image it named before (zero if it is new).
func (s *Store) Tag(ctx context.Context, name string, id manifest.Digest) (previous manifest.Digest, err error) {
	if err := ValidateTagName(name); err != nil {
		return manifest.Digest{}, err
	}
	err = s.db.Update(ctx, func(tx *bolt.Tx) error {
		previous = manifest.Digest{} // the function may run twice
		manifests, err := db.Bucket(tx, db.BucketManifests)
		if err != nil {
			return err
		}
		if manifests.Get(id[:]) == nil {
			return fmt.Errorf("tag %s: image %s: %w", name, id, ErrNotFound)
		}
		tags, err := db.Bucket(tx, db.BucketTags)
		if err != nil {
			return err
		}
		if v := tags.Get([]byte(name)); v != nil {
			if previous, err = tagValue(name, v); err != nil {
				return err
			}
		}
		return tags.Put([]byte(name), id[:])
	})
	return previous, err
}

// Untag deletes the tag name and returns the image it named. A missing tag
// is an error wrapping ErrNotFound.
func (s *Store) Untag(ctx context.Context, name string) (manifest.Digest, error) {
	var id manifest.Digest
	err := s.db.Update(ctx, func(tx *bolt.Tx) error {
		tags, err := db.Bucket(tx, db.BucketTags)
		if err != nil {
			return err
		}
		v := tags.Get([]byte(name))
		if v == nil {
			return fmt.Errorf("tag %s: %w", strconv.Quote(name), ErrNotFound)
		}
		if id, err = tagValue(name, v); err != nil {
			return err
		}
		return tags.Delete([]byte(name))
	})
	return id, err
}

// Tags lists every tag, by name.
func (s *Store) Tags(ctx context.Context) ([]Tag, error) {
	var out []Tag
	err := s.db.View(func(tx *bolt.Tx) error {
		tags, err := db.Bucket(tx, db.BucketTags)
		if err != nil {
			return err
		}
		return tags.ForEach(func(k, v []byte) error {
			id, err := tagValue(string(k), v)
			out = append(out, Tag{Name: string(k), ID: id})
			return err
		})
	})
	return out, err
}

// lookupTag returns the image tag name names; ok is false if there is no
// such tag.
func lookupTag(tx *bolt.Tx, name string) (id manifest.Digest, ok bool, err error) {
	tags, err := db.Bucket(tx, db.BucketTags)
	if err != nil {
		return id, false, err
	}
	v := tags.Get([]byte(name))
	if v == nil {
		return id, false, nil
	}
	id, err = tagValue(name, v)
	return id, err == nil, err
}

func tagValue(name string, v []byte) (manifest.Digest, error) {
	if len(v) != len(manifest.Digest{}) {
		return manifest.Digest{}, fmt.Errorf("tag %s: value of %d bytes: %w", strconv.Quote(name), len(v), ErrCorrupt)
	}
	return manifest.Digest(v), nil
}

// isHex reports whether s is all lower-case hex digits.
func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}
