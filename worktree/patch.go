package worktree

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/aymanbagabas/go-udiff"
	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// MaxPatchFile is the largest file a patch shows line by line; a larger
// one is reported as differing, as a binary file is.
const MaxPatchFile = 8 << 20

// A DiffSide is where one side of a Change is read: the store's blobs, or,
// with Dir set, the files of that directory on disk (as Status found them).
type DiffSide struct {
	Store *pf.Store
	Dir   string
}

// A Patch is one change as a unified diff, in git's form.
type Patch struct {
	// Binary is set when either side is not text (it holds a NUL byte in
	// its first 8000 bytes, as git judges) or is larger than
	// MaxPatchFile: Text then says only that the files differ.
	Binary bool
	// Text is the patch: "diff --git" header, mode lines, "---"/"+++"
	// and hunks. Symbolic links are shown as their target text, as git
	// shows them.
	Text string
}

// MakePatch renders change c, reading its old entry from a and its new
// entry from b.
func MakePatch(ctx context.Context, c Change, a, b DiffSide) (*Patch, error) {
	var hdr bytes.Buffer
	fmt.Fprintf(&hdr, "diff --git a/%s b/%s\n", c.Path, c.Path)
	oldMode, newMode := gitMode(c.Old), gitMode(c.New)
	switch {
	case c.Old.Kind == "":
		fmt.Fprintf(&hdr, "new file mode %s\n", newMode)
	case c.New.Kind == "":
		fmt.Fprintf(&hdr, "deleted file mode %s\n", oldMode)
	case oldMode != newMode:
		fmt.Fprintf(&hdr, "old mode %s\nnew mode %s\n", oldMode, newMode)
	}
	if c.Kind == ModeChanged || c.Old.Kind == manifest.KindDir || c.New.Kind == manifest.KindDir {
		return &Patch{Text: hdr.String()}, nil
	}
	oldText, oldBinary, err := content(ctx, c.Path, c.Old, a)
	if err != nil {
		return nil, err
	}
	newText, newBinary, err := content(ctx, c.Path, c.New, b)
	if err != nil {
		return nil, err
	}
	oldLabel, newLabel := "a/"+c.Path, "b/"+c.Path
	if c.Old.Kind == "" {
		oldLabel = "/dev/null"
	}
	if c.New.Kind == "" {
		newLabel = "/dev/null"
	}
	if oldBinary || newBinary {
		fmt.Fprintf(&hdr, "Binary files %s and %s differ\n", oldLabel, newLabel)
		return &Patch{Binary: true, Text: hdr.String()}, nil
	}
	hdr.WriteString(udiff.Unified(oldLabel, newLabel, oldText, newText))
	return &Patch{Text: hdr.String()}, nil
}

// gitMode is an entry's mode as git's patch headers write it.
func gitMode(e manifest.Entry) string {
	switch e.Kind {
	case manifest.KindSymlink:
		return "120000"
	case manifest.KindDir:
		return "040000"
	case manifest.KindFile:
		if e.Mode&0o111 != 0 {
			return "100755"
		}
		return "100644"
	}
	return ""
}

// content reads an entry for a patch: "" for none, a link's target, a
// file's bytes from the side; binary when they are not text or too many.
func content(ctx context.Context, path string, e manifest.Entry, side DiffSide) (string, bool, error) {
	switch e.Kind {
	case "":
		return "", false, nil
	case manifest.KindSymlink:
		return e.LinkTarget + "\n", false, nil
	}
	if e.Size > MaxPatchFile {
		return "", true, nil
	}
	var r io.ReadCloser
	var err error
	if side.Dir != "" {
		r, err = openForRead(filepath.Join(side.Dir, filepath.FromSlash(path)))
	} else {
		r, err = side.Store.Blobs().Open(ctx, e.Blob)
	}
	if errors.Is(err, os.ErrNotExist) && side.Dir != "" {
		return "", false, nil // gone since the walk
	}
	if err != nil {
		return "", false, fmt.Errorf("patch of %q: %w", path, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, MaxPatchFile+1))
	if err != nil {
		return "", false, fmt.Errorf("patch of %q: %w", path, err)
	}
	if len(b) > MaxPatchFile || bytes.IndexByte(b[:min(len(b), 8000)], 0) >= 0 {
		return "", true, nil
	}
	return string(b), false, nil
}
