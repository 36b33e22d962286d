package pf

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/processfork/pf/internal/cas"
	"github.com/processfork/pf/internal/db"
	"github.com/processfork/pf/internal/index"
	"github.com/processfork/pf/manifest"
	bolt "go.etcd.io/bbolt"
)

// VerifyOptions choose how far Verify looks.
type VerifyOptions struct {
	// Deep also re-reads every blob and chunk and re-hashes it.
	Deep bool
	// Progress, when set, is called with how many images and values have
	// been checked.
	Progress func(done, total int64)
}

// A Problem is one thing wrong with a store.
type Problem struct {
	Subject string // what is wrong: "blob sha256:...", "image 1a2b3c4d5e6f", "tag main", "index/time"
	Detail  string // what is wrong with it, without the subject
	// Images are what the problem breaks: the image itself, or the
	// images that reach a bad blob or chunk (the first maxBrokenImages
	// of them, in id order; Reaching counts them all).
	Images   []manifest.Digest
	Reaching int
	// Tags name the images in Images.
	Tags []string
}

// maxBrokenImages bounds the images one problem lists.
const maxBrokenImages = 100

// String is the problem on one line: its subject, what is wrong, and
// what it breaks.
func (p Problem) String() string {
	line := p.Subject + ": " + p.Detail
	if p.Reaching == 0 || strings.HasPrefix(p.Subject, "image ") && p.Reaching == 1 {
		if len(p.Tags) > 0 {
			line += " (tagged " + strings.Join(p.Tags, ", ") + ")"
		}
		return line
	}
	const shown = 5
	ids := make([]string, 0, shown)
	for _, id := range p.Images[:min(len(p.Images), shown)] {
		ids = append(ids, id.Short())
	}
	list := strings.Join(ids, ", ")
	if p.Reaching > len(ids) {
		list += fmt.Sprintf(" and %d more", p.Reaching-len(ids))
	}
	line += "; breaks " + plural(p.Reaching, "image", "images") + " " + list
	if len(p.Tags) > 0 {
		line += " (tagged " + strings.Join(p.Tags, ", ") + ")"
	}
	return line
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// VerifyReport sums up a Verify.
type VerifyReport struct {
	Images, Blobs, Chunks int64
	Problems              []Problem
}

// maxProblems bounds the list a damaged store can produce.
const maxProblems = 10000

// Verify checks the store from one consistent read: every manifest parses
// and hashes to its id; every parent exists; every blob an image reaches
// exists, following fs.tree.v1 entries, cache pages, merged ledgers and
// chunk lists; the time and parent indexes and the manifests agree both
// ways; tags and heads name images; pins name blobs; the stats counters
// match what is stored; the packs of small values match the references to
// them. Deep
// also re-hashes every blob and chunk. A store that Verify finds nothing
// wrong with has an empty Problems.
func (s *Store) Verify(ctx context.Context, opts VerifyOptions) (VerifyReport, error) {
	var rep VerifyReport
	err := s.db.View(func(tx *bolt.Tx) error {
		v := verifier{ctx: ctx, tx: tx, opts: opts, rep: &rep, reached: map[manifest.Digest]bool{},
			badBlobs: map[manifest.Digest][]int{}, badChunks: map[manifest.Digest][]int{}}
		return v.run()
	})
	return rep, err
}

type verifier struct {
	ctx     context.Context
	tx      *bolt.Tx
	opts    VerifyOptions
	rep     *VerifyReport
	reached map[manifest.Digest]bool // blobs already checked as present
	// badBlobs and badChunks index the problems about a blob or chunk, to
	// name the images that reach it once every check has run.
	badBlobs, badChunks map[manifest.Digest][]int
	done                int64
	total               int64
}

// problem records one problem; it returns its index, or -1 past
// maxProblems.
func (v *verifier) problem(subject, format string, args ...any) int {
	if len(v.rep.Problems) >= maxProblems {
		return -1
	}
	v.rep.Problems = append(v.rep.Problems, Problem{Subject: subject, Detail: fmt.Sprintf(format, args...)})
	return len(v.rep.Problems) - 1
}

// imageProblem records a problem of image id, which it breaks.
func (v *verifier) imageProblem(id manifest.Digest, format string, args ...any) {
	if i := v.problem("image "+id.Short(), format, args...); i >= 0 {
		v.rep.Problems[i].Images, v.rep.Problems[i].Reaching = []manifest.Digest{id}, 1
	}
}

// valueProblem records a problem of the blob or chunk d (kind "blob" or
// "chunk"), whose detail may begin by naming d itself: it is said once.
func (v *verifier) valueProblem(kind string, d manifest.Digest, detail, context string) {
	for _, prefix := range []string{"blob " + d.String() + ": ", "chunk " + d.String() + ": "} {
		detail = strings.TrimPrefix(detail, prefix)
	}
	if context != "" {
		detail += " (" + context + ")"
	}
	i := v.problem(kind+" "+d.String(), "%s", detail)
	if i < 0 {
		return
	}
	if kind == "chunk" {
		v.badChunks[d] = append(v.badChunks[d], i)
	} else {
		v.badBlobs[d] = append(v.badBlobs[d], i)
	}
}

func (v *verifier) run() error {
	v.total = db.Counter(v.tx, db.CounterImages)
	if v.opts.Deep {
		v.total += db.Counter(v.tx, db.CounterBlobs) + db.Counter(v.tx, db.CounterChunks)
	}
	for _, step := range []func() error{v.images, v.timeIndex, v.parentIndex, v.tags, v.heads, v.pins, v.values, v.broken, v.tagsOfBroken} {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

func (v *verifier) tick() error {
	v.done++
	if v.opts.Progress != nil && v.done%256 == 0 {
		v.opts.Progress(v.done, v.total)
	}
	return v.ctx.Err()
}

// images checks each manifest, its parents, its index entries and what it
// reaches.
func (v *verifier) images() error {
	manifests, err := db.Bucket(v.tx, db.BucketManifests)
	if err != nil {
		return err
	}
	byTime, err := db.Bucket(v.tx, db.BucketIndex, db.BucketTime)
	if err != nil {
		return err
	}
	byParent, err := db.Bucket(v.tx, db.BucketIndex, db.BucketParent)
	if err != nil {
		return err
	}
	shallow, err := db.Bucket(v.tx, db.BucketShallow)
	if err != nil {
		return err
	}
	// One walker for every image: a tree or page list that images share is
	// read and checked once, so a store of many forks verifies in time
	// proportional to what it holds, not to images times tree size.
	walker := &reacher{}
	return manifests.ForEach(func(k, _ []byte) error {
		if err := v.tick(); err != nil {
			return err
		}
		v.rep.Images++
		if len(k) != len(manifest.Digest{}) {
			v.problem("manifests", "key of %d bytes", len(k))
			return nil
		}
		id := manifest.Digest(k)
		img, err := imageTx(v.tx, id)
		if err != nil {
			v.imageProblem(id, "%v", err)
			return nil
		}
		m := img.Manifest
		if byTime.Get(index.TimeKey(m.CreatedAt, id)) == nil {
			v.imageProblem(id, "no index/time entry for created_at %s", manifest.FormatTime(m.CreatedAt))
		} else if err := index.CheckSummary(v.tx, id, m); err != nil {
			v.imageProblem(id, "%v", err) // a listing would show what it says
		}
		parents := m.Parents
		if len(parents) == 0 {
			parents = []manifest.Digest{{}}
		}
		for _, p := range parents {
			if byParent.Get(append(bytes.Clone(p[:]), id[:]...)) == nil {
				v.imageProblem(id, "no index/parent entry under %s", p.Short())
			}
		}
		for _, p := range m.Parents {
			if manifests.Get(p[:]) == nil && shallow.Get(id[:]) == nil {
				v.imageProblem(id, "parent %s is missing", p)
			}
		}
		err = walker.reach(m,
			func(d manifest.Digest) ([]byte, error) { return cas.ReadTx(v.tx, d) },
			func(d manifest.Digest, where string) error {
				if v.reached[d] {
					return nil
				}
				v.reached[d] = true // each bad blob is one problem, whatever reaches it
				if err := cas.CheckStoredTx(v.tx, d); err != nil {
					v.valueProblem("blob", d, err.Error(), "reached as "+where)
				}
				return nil
			})
		if err != nil {
			v.imageProblem(id, "%v", err)
		}
		return nil
	})
}

// timeIndex checks that every index/time entry names an image created
// then.
func (v *verifier) timeIndex() error {
	return index.ScanTime(v.tx, index.TimeRange{}, func(key []byte, id manifest.Digest) (bool, error) {
		created, _, _ := index.ParseTimeKey(key)
		img, err := imageTx(v.tx, id)
		switch {
		case err != nil:
			v.problem("index/time", "entry for %s: %v", id.Short(), err)
		case !img.Manifest.CreatedAt.Equal(created):
			v.problem("index/time", "entry for %s at %s, the manifest says %s", id.Short(),
				manifest.FormatTime(created), manifest.FormatTime(img.Manifest.CreatedAt))
		}
		return true, v.ctx.Err()
	})
}

// parentIndex checks that every edge names a child that names the parent.
func (v *verifier) parentIndex() error {
	byParent, err := db.Bucket(v.tx, db.BucketIndex, db.BucketParent)
	if err != nil {
		return err
	}
	return byParent.ForEach(func(k, _ []byte) error {
		if len(k) != 64 {
			v.problem("index/parent", "key of %d bytes", len(k))
			return nil
		}
		parent, child := manifest.Digest(k[:32]), manifest.Digest(k[32:])
		img, err := imageTx(v.tx, child)
		if err != nil {
			v.problem("index/parent", "edge %s -> %s: %v", parent.Short(), child.Short(), err)
			return nil
		}
		named := parent.IsZero() && len(img.Manifest.Parents) == 0
		for _, p := range img.Manifest.Parents {
			named = named || p == parent
		}
		if !named {
			v.problem("index/parent", "edge %s -> %s, but the image does not name that parent", parent.Short(), child.Short())
		}
		return v.ctx.Err()
	})
}

func (v *verifier) tags() error {
	tags, err := db.Bucket(v.tx, db.BucketTags)
	if err != nil {
		return err
	}
	manifests, err := db.Bucket(v.tx, db.BucketManifests)
	if err != nil {
		return err
	}
	return tags.ForEach(func(name, val []byte) error {
		id, err := tagValue(string(name), val)
		switch {
		case err != nil:
			v.problem("tag "+string(name), "%v", err)
		case manifests.Get(id[:]) == nil:
			v.problem("tag "+string(name), "names image %s, which is not in the store", id)
		}
		return nil
	})
}

func (v *verifier) heads() error {
	heads, err := db.Bucket(v.tx, db.BucketHeads)
	if err != nil {
		return err
	}
	manifests, err := db.Bucket(v.tx, db.BucketManifests)
	if err != nil {
		return err
	}
	return heads.ForEach(func(k, val []byte) error {
		dir, session, ok := parseHeadKey(k)
		if !ok {
			v.problem("heads", "key %q has no NUL", k)
			return nil
		}
		subject := "head of " + dir + sessionSuffix(session)
		h, err := decodeHead(dir, session, val)
		switch {
		case err != nil:
			v.problem(subject, "%v", err)
		case manifests.Get(h.ID[:]) == nil:
			v.problem(subject, "names image %s, which is not in the store", h.ID)
		}
		return nil
	})
}

// pins checks that every pin names a blob the store holds.
func (v *verifier) pins() error {
	pins, err := db.Bucket(v.tx, db.BucketPins)
	if err != nil {
		return err
	}
	return pins.ForEach(func(k, val []byte) error {
		p, err := pinEntry(k, val)
		if err != nil {
			v.problem("pins", "%v", err)
			return nil
		}
		if _, err := cas.SizeTx(v.tx, p.Blob); err != nil {
			v.problem("pin "+p.Blob.String(), "%v", err)
		}
		return nil
	})
}

// values has the blob store check its own values (deep, re-hashing
// each) and packs, and recounts the stats counters: the values' totals
// plus the manifests.
func (v *verifier) values() error {
	opts := cas.CheckOptions{Deep: v.opts.Deep, Tick: v.tick,
		Problem: v.casProblem}
	t, err := cas.CheckTx(v.tx, opts)
	if err != nil {
		return err
	}
	blobs, chunks, logical, stored := t.Blobs, t.Chunks, t.Logical, t.Stored
	v.rep.Blobs, v.rep.Chunks = blobs, chunks
	manifests, err := db.Bucket(v.tx, db.BucketManifests)
	if err != nil {
		return err
	}
	var manifestBytes, manifestStored int64
	if err := manifests.ForEach(func(k, val []byte) error {
		manifestStored += int64(len(val))
		raw, err := cas.DecodeManifest(manifest.Digest(k), val)
		manifestBytes += int64(len(raw))
		_ = err // reported by images
		return nil
	}); err != nil {
		return err
	}
	for _, c := range []struct {
		name string
		want int64
	}{
		{db.CounterBlobs, blobs},
		{db.CounterChunks, chunks},
		{db.CounterImages, v.rep.Images},
		{db.CounterLogical, logical + manifestBytes},
		{db.CounterStored, stored + manifestStored},
	} {
		if got := db.Counter(v.tx, c.name); got != c.want {
			v.problem("stats", "counter %s is %d, the store holds %d", c.name, got, c.want)
		}
	}
	return nil
}

// casProblem records a problem the blob store found in its own values,
// by blob or chunk where it names one, so that the images reaching it are
// named too.
func (v *verifier) casProblem(subject, detail string) {
	kind, digest, _ := strings.Cut(subject, " ")
	d, err := manifest.ParseDigest(digest)
	if (kind != "blob" && kind != "chunk") || err != nil {
		v.problem(subject, "%s", detail)
		return
	}
	if !v.known(kind, d) { // an image reached it and said so already
		v.valueProblem(kind, d, detail, "")
	}
}

// known reports whether a problem of the blob or chunk d is recorded.
func (v *verifier) known(kind string, d manifest.Digest) bool {
	if kind == "chunk" {
		_, ok := v.badChunks[d]
		return ok
	}
	_, ok := v.badBlobs[d]
	return ok
}

// broken names, for each problem of a blob or chunk, the images that reach
// it. It walks every image again, so it runs only when there are such
// problems: a whole store costs nothing more.
func (v *verifier) broken() error {
	if len(v.badBlobs) == 0 && len(v.badChunks) == 0 {
		return nil
	}
	manifests, err := db.Bucket(v.tx, db.BucketManifests)
	if err != nil {
		return err
	}
	chunkProblems := map[manifest.Digest][]int{} // blob -> problems of its chunks
	breaks := func(id manifest.Digest, problems []int) {
		for _, i := range problems {
			p := &v.rep.Problems[i]
			if len(p.Images) > 0 && p.Images[len(p.Images)-1] == id {
				continue // this image reaches the blob twice
			}
			p.Reaching++
			if len(p.Images) < maxBrokenImages {
				p.Images = append(p.Images, id)
			}
		}
	}
	return manifests.ForEach(func(k, _ []byte) error {
		if len(k) != len(manifest.Digest{}) {
			return nil
		}
		id := manifest.Digest(k)
		img, err := imageTx(v.tx, id)
		if err != nil {
			return nil // reported by images
		}
		read := func(d manifest.Digest) ([]byte, error) { return cas.ReadTx(v.tx, d) }
		_ = reach(img.Manifest, nil, read, func(d manifest.Digest, _ string) error {
			breaks(id, v.badBlobs[d])
			if len(v.badChunks) == 0 {
				return nil
			}
			problems, ok := chunkProblems[d]
			if !ok {
				chunks, _ := cas.ChunksOfTx(v.tx, d)
				for _, c := range chunks {
					problems = append(problems, v.badChunks[c]...)
				}
				chunkProblems[d] = problems
			}
			breaks(id, problems)
			return nil
		}) // a bad blob that cannot be read still counts: visit comes first
		return v.ctx.Err()
	})
}

// tagsOfBroken names the tags of the images each problem breaks.
func (v *verifier) tagsOfBroken() error {
	tags, err := db.Bucket(v.tx, db.BucketTags)
	if err != nil {
		return err
	}
	byImage := map[manifest.Digest][]string{}
	if err := tags.ForEach(func(name, val []byte) error {
		if id, err := tagValue(string(name), val); err == nil {
			byImage[id] = append(byImage[id], string(name))
		}
		return nil
	}); err != nil || len(byImage) == 0 {
		return err
	}
	for i := range v.rep.Problems {
		p := &v.rep.Problems[i]
		for _, id := range p.Images {
			p.Tags = append(p.Tags, byImage[id]...)
		}
	}
	return nil
}
