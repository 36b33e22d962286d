package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"
)

// limitReplace is the restore's own limit: the files that differ between
// the workspace and the checkpoint it goes back to, written the way a
// restore must write them, with nothing else to do (see replaceLimit).
const limitReplace = "limit: replace files"

// A fileState is what a path of the workspace holds at one checkpoint:
// nothing, or a file of these bytes and this mode.
type fileState struct {
	rel    string // from the workspace, with the system's separators
	exists bool
	data   []byte
	mode   fs.FileMode
}

// statesOf reads what each of paths holds in ws now.
func statesOf(ws string, paths []string) ([]fileState, error) {
	out := make([]fileState, 0, len(paths))
	for _, rel := range paths {
		st := fileState{rel: rel}
		fi, err := os.Lstat(filepath.Join(ws, rel))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, err
		default:
			if st.data, err = os.ReadFile(filepath.Join(ws, rel)); err != nil {
				return nil, err
			}
			st.exists, st.mode = true, fi.Mode().Perm()
		}
		out = append(out, st)
	}
	return out, nil
}

// replaceLimit times what pf serve's restore of the checkpoint back
// cannot avoid, under the conditions its restore rounds ran in: on the
// same copy of the tree (ws, the served job's workspace, whose inodes
// ext4 placed as it did for pf: on another copy the same writes took
// three times as long), the same files, right after those rounds. The
// files the last t.Back turns touched are read as back has them and as
// latest has them, each through pf restore (not timed); then the server
// stops, so that no watcher works beside the writes, and each round puts
// back, in one process with nothing else to do, the files that differ,
// each as pf restore must put a file so that a kill or a power loss
// leaves it whole, old or new: its directory opened without following a
// link, a new temporary file there written, given its mode, closed and
// renamed over the file; the files back lacks are removed. Like pf, it
// spreads the files over workers on every core and holds each replaced
// file open until the round ends, so that its inode is freed after the
// writes (see worktree's lateCloser). No store is read and nothing is
// compared or recorded: the bytes are in memory already. Between rounds,
// not timed, the files go forward again and everything written reaches
// the disk (sync): each round starts on an idle disk, with no writeback
// of the last round's files under way, the best case, which a limit must
// take. ok is false where the system lacks the calls (replaceFiles).
func (j *job) replaceLimit(t CkptTree, c *pfServeCheckpointer, files []string, back, latest string) (row Row, ok bool, err error) {
	if !canReplaceFiles {
		return row, false, nil
	}
	// The restore rounds go from the checkpoint of turn t.Turns+1 (the
	// last) back to that of turn t.Turns+1-t.Back.
	last := t.Turns + 1
	var touched []string
	for turn := max(0, last-t.Back) + 1; turn <= last; turn++ {
		edits, added, _ := turnOf(t, files, turn)
		touched = append(append(touched, edits...), added)
	}
	slices.Sort(touched)
	touched = slices.Compact(touched)
	j.progress("reading the files a restore changes")
	if _, err := c.restore(back); err != nil {
		return row, false, err
	}
	before, err := statesOf(c.ws, touched)
	if err != nil {
		return row, false, err
	}
	if _, err := c.restore(latest); err != nil {
		return row, false, err
	}
	after, err := statesOf(c.ws, touched)
	if err != nil {
		return row, false, err
	}
	c.stop()
	// Only what differs is written, as a restore writes it.
	var backward, forward []fileState
	written, removed := 0, 0
	for i := range before {
		b, a := before[i], after[i]
		if b.exists == a.exists && b.mode == a.mode && bytes.Equal(b.data, a.data) {
			continue
		}
		backward, forward = append(backward, b), append(forward, a)
		if b.exists {
			written++
		} else {
			removed++
		}
	}
	// pf restore's default pool (worktree.writeEach).
	workers := max(4, 2*runtime.GOMAXPROCS(0))
	row = Row{Workload: ckptWorkload(t.Job, stepRestore), System: limitReplace,
		Note: fmt.Sprintf("%d files written, %d removed, on pf serve's workspace", written, removed)}
	syncAll()
	row.Seconds, err = j.rounds("replace the files", j.Policy.CkptRestore, func() (time.Duration, error) {
		d, err := replaceFiles(c.ws, backward, workers)
		if err == nil {
			_, err = replaceFiles(c.ws, forward, workers) // not timed
		}
		syncAll()
		return d, err
	})
	return row, true, err
}
