package worktree

import (
	"crypto/sha256"
	"io"
	"io/fs"

	"github.com/processfork/pf/manifest"
)

// minTruncateRestore is the size from which a restore looks for a file's
// content at the start of what is on disk: below it, writing the file
// whole costs less than a look at its chunks.
const minTruncateRestore = 8 << 20

// truncateToPrefix restores change c by cutting the file on disk short,
// when c's content is the start of what the file holds now: a log or a
// database file that only grew since the image. A whole write of a file
// of gigabytes would take seconds; this reads one chunk.
//
// The two blobs' chunk lists say so for all of c's chunks but its last,
// the only one cut where c ended (chunks are cut where the content says,
// so the rest of a shared prefix is cut alike); that last one, or its
// head and tail, is read from the file and hashed. The file must be the
// one the backup captured (its size and digest, as for every file a
// restore leaves alone), a
// regular file with no other link, writable. It reports whether it cut
// the file; false leaves the file as it was, for a whole write, and an
// error means the file is cut but its mode is not yet c's.
func (rs *restorer) truncateToPrefix(p *parentDir, name string, c Change) (bool, error) {
	if c.Kind != Changed || c.Old.Kind != manifest.KindFile || c.New.Kind != manifest.KindFile ||
		c.New.Size < minTruncateRestore || c.New.Size >= c.Old.Size {
		return false, nil
	}
	blobs := rs.s.Blobs()
	want, err := blobs.Chunks(rs.ctx, c.New.Blob)
	if err != nil || len(want) < 2 {
		return false, nil
	}
	have, err := blobs.Chunks(rs.ctx, c.Old.Blob)
	if err != nil || len(have) < len(want) {
		return false, nil
	}
	shared, lastAt := 0, int64(0)
	for shared < len(want) && want[shared] == have[shared] {
		lastAt += want[shared].Size
		shared++
	}
	if shared == len(want) { // the last chunk too: it is read all the same
		shared--
		lastAt -= want[shared].Size
	}
	// What follows is the last chunk, or its head and tail when the store
	// keeps it raw (package cas stores such a chunk as two).
	if rest := len(want) - shared; rest > 2 {
		return false, nil
	}
	f, err := p.openToTruncate(name)
	if err != nil {
		return false, nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != c.Old.Size {
		return false, nil
	}
	for _, last := range want[shared:] {
		h := sha256.New()
		if n, err := io.Copy(h, io.NewSectionReader(f, lastAt, last.Size)); err != nil || n != last.Size || manifest.Digest(h.Sum(nil)) != last.Digest {
			return false, nil
		}
		lastAt += last.Size
	}
	if err := f.Truncate(c.New.Size); err != nil {
		return false, nil
	}
	// A truncate by other than root clears the setuid and setgid bits.
	if c.New.Mode != c.Old.Mode || c.New.Mode&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
		return true, f.Chmod(c.New.Mode & manifest.ModeMask)
	}
	return true, nil
}
