package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/urfave/cli/v2"
)

// access says how a command opens the store.
type access int

const (
	// readOnly shares the store with other readers; a missing store is
	// an error.
	readOnly access = iota
	// readWrite holds the store alone; a missing store is an error (only
	// pf init and pf demo create one).
	readWrite
)

// openStore opens the store the command works on. Under pf serve it
// hands out the server's open store, whose Close then does nothing.
func openStore(c *cli.Context, mode access) (*pf.Store, error) {
	path, err := storePath(c)
	if err != nil {
		return nil, err
	}
	if s := servedStore(c, path); s != nil {
		return s, nil
	}
	opts := openOptions(c)
	opts.ReadOnly, opts.NoCreate = mode == readOnly, true
	s, err := pf.OpenContext(c.Context, path, opts)
	if errors.Is(err, pf.ErrNotFound) {
		if _, statErr := os.Stat(path); errors.Is(statErr, os.ErrNotExist) {
			return nil, fmt.Errorf("no store at %s: create one with pf init, or name another with --store or $PF_STORE", path)
		}
	}
	return s, err
}

// servedStore is the store pf serve lends the command when path is that
// store, else nil.
func servedStore(c *cli.Context, path string) *pf.Store {
	s := invocationOf(c).served
	if s == nil {
		return nil
	}
	if filepath.Clean(path) == filepath.Clean(s.Path()) {
		return s.Borrow()
	}
	a, errA := os.Stat(path)
	b, errB := os.Stat(s.Path())
	if errA == nil && errB == nil && os.SameFile(a, b) {
		return s.Borrow()
	}
	return nil
}

// openOptions are the options every command opens a store with: the
// wait of --timeout (0: none), and on a terminal a line that says whom
// it waits for.
func openOptions(c *cli.Context) *pf.Options {
	timeout := defaultTimeout
	if v, ok := c.Generic("timeout").(*timeoutValue); ok {
		timeout = v.d
	}
	if timeout == 0 {
		timeout = -1 // pf.Options: no wait at all
	}
	opts := &pf.Options{Timeout: timeout} // HeapHeadroom zero: pf.DefaultHeapHeadroom bounds each streamed put
	if boundedByLimit(c) {
		opts.HeapHeadroom = -1 // boundMemory's limit bounds them
	}
	if inv := invocationOf(c); inv.Terminal {
		opts.Waiting = func(h pf.Holder) {
			fmt.Fprintf(inv.Stderr, "pf: waiting for %s, which holds the store (up to %v: --timeout)\n", h, timeout.Round(time.Millisecond))
		}
	}
	return opts
}

// resolveImage reads an image argument: a tag, an id or an id prefix, or
// HEAD (or @): the head of the workspace in the current directory, in the
// command's --session; each may end in ancestry steps (HEAD~1).
func resolveImage(c *cli.Context, s *pf.Store, ref string) (manifest.Digest, error) {
	return resolveImageIn(c, s, ref, invocationOf(c).Dir)
}

// resolveImageIn is resolveImage with HEAD naming the head of the
// workspace dir: the commands that work on a workspace other than the
// current directory (restore --to, diff IMAGE DIR) pass theirs.
func resolveImageIn(c *cli.Context, s *pf.Store, ref, dir string) (manifest.Digest, error) {
	base, steps := ref, ""
	if i := strings.IndexAny(ref, "~^"); i >= 0 {
		base, steps = ref[:i], ref[i:]
	}
	if !pf.IsHeadName(base) {
		id, err := s.ResolveImage(c.Context, ref)
		return id, argError(err)
	}
	ws, err := workspaceOf(c, dir)
	if err != nil {
		return manifest.Digest{}, err
	}
	head, ok, err := headOfWorkspace(c, s, ws, dir)
	if err != nil {
		return manifest.Digest{}, err
	}
	if !ok {
		return manifest.Digest{}, fmt.Errorf("%s: %w", base, errNoHead(ws))
	}
	if steps == "" {
		return head, nil
	}
	id, err := s.ResolveImageFrom(c.Context, ref, head)
	if err != nil {
		return manifest.Digest{}, fmt.Errorf("%s is %s, the head of %s%s: %w", base, head.Short(), quotePath(ws.Dir), sessionNote(ws.Session), argError(err))
	}
	return id, nil
}

// resolveBlob reads a blob argument: a digest, a prefix of one, or an
// image's id or tag (which names its manifest's bytes).
func resolveBlob(c *cli.Context, s *pf.Store, ref string) (manifest.Digest, error) {
	id, err := s.ResolveBlob(c.Context, ref)
	return id, argError(err)
}

// argError marks a malformed argument (not a tag, and not an id either)
// as a usage error.
func argError(err error) error {
	if errors.Is(err, manifest.ErrInvalidDigest) || errors.Is(err, pf.ErrInvalidTagName) || errors.Is(err, pf.ErrInvalidAncestry) {
		return usageError{err}
	}
	return err
}

// wantArgs checks the number of arguments: between min and max (max < 0
// for no limit).
func wantArgs(c *cli.Context, min, max int) error {
	n := c.NArg()
	if n >= min && (max < 0 || n <= max) {
		return nil
	}
	what := "too many arguments"
	if n < min {
		what = "missing arguments"
	}
	return usagef("%s: usage: pf %s %s", what, c.Command.Name, c.Command.ArgsUsage)
}

// withStore runs fn on the store opened as mode and closes it after.
func withStore(mode access, fn func(c *cli.Context, s *pf.Store) error) cli.ActionFunc {
	return withStoreAs(func(*cli.Context) access { return mode }, fn)
}

// writesUnlessDryRun is the access of a command with --dry-run: a dry run
// writes nothing, so it shares the store with other readers (a running pf
// verify --deep) and works on a file or file system it may not write.
func writesUnlessDryRun(c *cli.Context) access {
	if c.Bool("dry-run") {
		return readOnly
	}
	return readWrite
}

// withStoreAs is withStore for a command whose access depends on its
// flags.
func withStoreAs(modeOf func(*cli.Context) access, fn func(c *cli.Context, s *pf.Store) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		s, err := openStore(c, modeOf(c))
		if err != nil {
			return err
		}
		err = fn(c, s)
		if cerr := s.Close(); err == nil {
			err = cerr
		}
		return err
	}
}
