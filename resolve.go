package pf

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// MinPrefix is the fewest hex digits an id prefix may have.
const MinPrefix = 6

// maxCandidates bounds how many ids an ambiguous prefix's error lists.
const maxCandidates = 8

// ResolveImage finds the image ref names: a tag, a full id
// ("sha256:" and 64 hex digits), or a prefix of an id of at least MinPrefix
// lower-case hex digits, with or without "sha256:". Tag names cannot spell
// an id prefix (ValidateTagName); such a tag kept from an older pf names its
// image only while no other id starts with it, else the reference is
// ambiguous.
//
// As in git, ancestors follow: ref~N is the Nth first-parent ancestor of
// ref (ref~ is ref~1), ref^N its Nth parent (ref^ is ref^1, ref^0 ref
// itself), and steps chain left to right (main~2^2). Tag names cannot hold
// '~' or '^', so the suffix never reads as part of one.
//
// Errors wrap ErrNotFound when nothing matches or an image lacks the
// parent a step asks for, ErrAmbiguous (listing the candidates) when a
// prefix matches several images, manifest.ErrInvalidDigest when ref
// is a malformed id, and ErrInvalidAncestry when its steps are.
func (s *Store) ResolveImage(ctx context.Context, ref string) (manifest.Digest, error) {
	return s.resolveImage(ref, nil)
}

// ResolveImageFrom is ResolveImage for a reference whose name, before its
// ancestry steps, the caller has resolved to image base: a name the store
// does not keep, such as the command line's HEAD (IsHeadName). Errors are
// ResolveImage's and name ref.
func (s *Store) ResolveImageFrom(ctx context.Context, ref string, base manifest.Digest) (manifest.Digest, error) {
	return s.resolveImage(ref, &base)
}

// resolveImage resolves ref, its name taken as image *base when base is
// not nil.
func (s *Store) resolveImage(ref string, base *manifest.Digest) (manifest.Digest, error) {
	name, steps, err := parseAncestry(ref)
	if err != nil {
		return manifest.Digest{}, err
	}
	var id manifest.Digest
	err = s.db.View(func(tx *bolt.Tx) (err error) {
		if id, err = resolveNameTx(tx, name, base); err != nil {
			return err
		}
		for _, step := range steps {
			if id, err = step.follow(tx, id); err != nil {
				return fmt.Errorf("%s: %w", strconv.Quote(ref), err)
			}
		}
		return nil
	})
	return id, err
}

// ResolveBlob is ResolveImage for anything the store holds by digest:
// blobs, and manifests too (an image id names the manifest's bytes), so
// that one can fetch either by its digest. A tag resolves to its image.
func (s *Store) ResolveBlob(ctx context.Context, ref string) (manifest.Digest, error) {
	return s.resolve(ref, "blob", db.BucketBlobs, db.BucketManifests)
}

func (s *Store) resolve(ref, what string, buckets ...[]byte) (manifest.Digest, error) {
	var id manifest.Digest
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		id, err = resolveTx(tx, ref, what, buckets)
		return err
	})
	return id, err
}

// resolveNameTx is the image a reference's name gives: *base when the
// caller resolved it (an image the store must hold), else the tag, id or
// prefix it spells.
func resolveNameTx(tx *bolt.Tx, name string, base *manifest.Digest) (manifest.Digest, error) {
	if base == nil {
		return resolveTx(tx, name, "image", [][]byte{db.BucketManifests})
	}
	manifests, err := db.Bucket(tx, db.BucketManifests)
	if err != nil {
		return manifest.Digest{}, err
	}
	if manifests.Get(base[:]) == nil {
		return manifest.Digest{}, fmt.Errorf("%s is image %s: %w", strconv.Quote(name), base, ErrNotFound)
	}
	return *base, nil
}

func resolveTx(tx *bolt.Tx, ref, what string, names [][]byte) (manifest.Digest, error) {
	if id, ok, err := lookupTag(tx, ref); err != nil || ok {
		if err == nil {
			err = checkTagTarget(tx, ref, id)
		}
		if err == nil && isHex(ref) && len(ref) >= MinPrefix {
			err = checkTagShadows(tx, ref, id, what, names)
		}
		return id, err
	}
	digits, prefixed := strings.CutPrefix(ref, "sha256:")
	switch {
	case prefixed && isHex(digits) && len(digits) < MinPrefix:
		return manifest.Digest{}, fmt.Errorf("%w %s: %d hex digits, an id prefix needs at least %d", manifest.ErrInvalidDigest, strconv.Quote(ref), len(digits), MinPrefix)
	case prefixed || strings.Contains(ref, ":"):
		if !isHex(digits) || len(digits) > 2*len(manifest.Digest{}) {
			_, err := manifest.ParseDigest(ref)
			return manifest.Digest{}, err
		}
	case !isHex(ref) && len(ref) == 2*len(manifest.Digest{}) && isHex(strings.ToLower(ref)):
		// 64 hex digits cannot be a tag: this is an id, spelt wrongly.
		_, err := manifest.ParseHex(ref)
		return manifest.Digest{}, err
	case !isHex(ref):
		hint := ""
		if isHex(strings.ToLower(ref)) && len(ref) >= MinPrefix {
			hint = " (ids are lower-case hex)"
		}
		return manifest.Digest{}, fmt.Errorf("no tag or %s %s%s: %w", what, strconv.Quote(ref), hint, ErrNotFound)
	case len(ref) < MinPrefix:
		return manifest.Digest{}, fmt.Errorf("no tag %s, and %d hex digits are too few for an id prefix (at least %d): %w", strconv.Quote(ref), len(ref), MinPrefix, ErrNotFound)
	case len(ref) > 2*len(manifest.Digest{}):
		return manifest.Digest{}, fmt.Errorf("no tag or %s %s: %w", what, strconv.Quote(ref), ErrNotFound)
	}

	var found []manifest.Digest
	for _, name := range names {
		b, err := db.Bucket(tx, name)
		if err != nil {
			return manifest.Digest{}, err
		}
		found = appendPrefixMatches(found, b, digits, maxCandidates+1)
	}
	switch len(found) {
	case 0:
		if len(digits) == 2*len(manifest.Digest{}) {
			return manifest.Digest{}, fmt.Errorf("%s sha256:%s: %w", what, digits, ErrNotFound)
		}
		return manifest.Digest{}, fmt.Errorf("no %s with an id starting %s: %w", what, strconv.Quote(ref), ErrNotFound)
	case 1:
		return found[0], nil
	}
	count := strconv.Itoa(len(found))
	if len(found) > maxCandidates {
		found, count = found[:maxCandidates], "more than "+strconv.Itoa(maxCandidates)
	}
	list := make([]string, len(found))
	for i, d := range found {
		list[i] = d.String()
	}
	return manifest.Digest{}, fmt.Errorf("%w %s: %s %ss match: %s", ErrAmbiguous, strconv.Quote(ref), count, what, strings.Join(list, ", "))
}

// appendPrefixMatches appends the keys of b that start with the hex digits
// (each once), stopping once found holds limit ids. It seeks to the first
// possible key, so it reads only keys that match, plus one.
func appendPrefixMatches(found []manifest.Digest, b *bolt.Bucket, digits string, limit int) []manifest.Digest {
	seek, _ := hex.DecodeString(digits[:len(digits)&^1])
	whole := len(seek)
	if len(digits)%2 == 1 {
		hi, _ := hex.DecodeString(digits[len(digits)-1:] + "0")
		seek = append(seek, hi[0])
	}
	c := b.Cursor()
	for k, _ := c.Seek(seek); k != nil && len(found) < limit; k, _ = c.Next() {
		if !bytes.HasPrefix(k, seek[:whole]) || whole < len(seek) && (len(k) <= whole || k[whole]>>4 != seek[whole]>>4) {
			break
		}
		if len(k) != len(manifest.Digest{}) {
			continue
		}
		if d := manifest.Digest(k); !slices.Contains(found, d) {
			found = append(found, d)
		}
	}
	return found
}

// checkTagShadows refuses a tag (kept from a pf that allowed such names)
// that spells a prefix of an id other than its own image's: the reference
// means two things, and pf guesses neither.
func checkTagShadows(tx *bolt.Tx, name string, id manifest.Digest, what string, names [][]byte) error {
	var found []manifest.Digest
	for _, bucket := range names {
		b, err := db.Bucket(tx, bucket)
		if err != nil {
			return err
		}
		found = appendPrefixMatches(found, b, name, maxCandidates+1)
	}
	others := slices.DeleteFunc(found, func(d manifest.Digest) bool { return d == id })
	if len(others) == 0 {
		return nil
	}
	list := make([]string, min(len(others), maxCandidates))
	for i := range list {
		list[i] = others[i].String()
	}
	return fmt.Errorf("%w %s: it is a tag (image %s) and the start of %s %s: rename the tag (pf tag NEW %s; pf tag -d %s)",
		ErrAmbiguous, strconv.Quote(name), id, what, strings.Join(list, ", "), id, name)
}

// checkTagTarget refuses a tag whose image is gone: tags are checked when
// made and keep their images from collection, so this is damage.
func checkTagTarget(tx *bolt.Tx, name string, id manifest.Digest) error {
	manifests, err := db.Bucket(tx, db.BucketManifests)
	if err != nil {
		return err
	}
	if manifests.Get(id[:]) == nil {
		return fmt.Errorf("tag %s names image %s, which is missing: %w", strconv.Quote(name), id, ErrCorrupt)
	}
	return nil
}
