package worktree

import (
	"context"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// minRecordedWrite is the size from which a restore syncs a file it
// writes whole before renaming it into place, and records it in the stat
// cache: the next capture, often the backup of the next restore, then
// need not read it again. Below it, the sync would cost more than reading
// the file again, and the record would be racy-clean (written in the
// second it was recorded) anyway.
const minRecordedWrite = 8 << 20

// minSettledWrite is the size from which a restore that wrote and synced
// a file within the second it would rename it in waits for the next
// second before the rename, so that the file can be recorded (see
// placedStat): the wait, at most a second and most often none (writing
// and syncing that much takes longer), costs less than reading the file
// again at the next capture (a quarter of a GiB hashes in about half a
// second on one core).
const minSettledWrite = 256 << 20

// waitPastSecond returns once the clock is past the second of the Unix
// nanosecond time t.
func waitPastSecond(t int64) {
	if d := time.Until(time.Unix(unixSecond(t)+1, 0)); d > 0 {
		time.Sleep(d + time.Millisecond)
	}
}

// placed is what the stat cache may record of a file a restore wrote:
// its stat once in place, and the time taken before that stat.
type placed struct {
	stat     fileStat
	recorded int64
	ok       bool
}

// placedStat says what the stat cache may record of a file a restore
// wrote whole and synced, whose stat was written then (the temporary file,
// which no one else knew of), now once renamed into place, the rename
// made after renamed. The record is the one a capture would make had it
// read the file at renamed: it is kept only if the file is still the one
// written (the same inode, size and mtime: a write since its rename sets
// the mtime to a time after renamed) and if its mtime falls in an earlier
// second than renamed, so that the lookup's racy-clean rule trusts it. A
// file modified in the second it was written, or later, is left to the
// next capture to read.
func placedStat(written, now fileStat, renamed time.Time) placed {
	r := renamed.UnixNano()
	if now.ino != written.ino || now.dev != written.dev || now.size != written.size || now.mtime != written.mtime ||
		unixSecond(now.mtime) >= unixSecond(r) {
		return placed{}
	}
	return placed{stat: now, recorded: r, ok: true}
}

// notePlaced keeps what the stat cache may record of the file at path,
// written with the bytes of blob.
func (rs *restorer) notePlaced(path string, pl placed, blob manifest.Digest) {
	if !pl.ok {
		return
	}
	e := cacheEntry{stat: pl.stat, recorded: pl.recorded, digest: blob}
	rs.mu.Lock()
	rs.placed = append(rs.placed, pf.FileRecord{Path: path, Stat: e.record(), Blob: blob})
	rs.mu.Unlock()
}

// finish records in the directory's stat cache the files the restore
// wrote that it may (see placedStat), and moves head to image unless
// head is nil, in one transaction: a restore killed before it leaves no
// record, and one that ends leaves records of files in place and synced.
// used is the stat cache the restore's backup (or scan) loaded: when that
// capture's save sealed the records, the seal is kept. What an unchanged
// backup deferred goes in the same transaction when no file is recorded
// (the common case: small files), else in one before, which seals what
// used's save left.
func (rs *restorer) finish(ctx context.Context, root string, used *statCache, head *pf.HeadRef, image manifest.Digest, deferred *pf.Deferred) error {
	if len(rs.placed) == 0 {
		return rs.s.CommitDeferred(ctx, deferred, head, image)
	}
	if err := rs.s.CommitDeferred(ctx, deferred, nil, manifest.Digest{}); err != nil {
		return err
	}
	files := rs.s.FileCache(root)
	if used != nil {
		if seal, ok := used.files.Sealed(); ok {
			if _, err := files.LoadSealed(ctx, seal); err != nil {
				return err
			}
		}
	}
	_, err := files.SaveWithHead(ctx, rs.placed, head, image)
	return err
}
