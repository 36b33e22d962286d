package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"github.com/processfork/pf/internal/fixture"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/processfork/pf/manifest"
)

// gitSystem is git's object store in a fresh bare repository, driven as a
// user would drive it: git fast-import (one process per snapshot or per
// ingest, writing a pack) or, with loose, git hash-object -w on files (one
// loose object each: the ingest's blobs through --stdin-paths, the large
// blob as git add stores a file). Reads go through one
// git cat-file --batch; history is git log --since over the branches.
//
// git runs with its defaults (no user or system configuration): packs are
// fsynced, loose objects are not (core.fsync leaves them out by default),
// so the hash-object figures are of a store that is not durable until the
// next sync. Object ids are git's SHA-1.
type gitSystem struct{ loose bool }

func (g gitSystem) Name() string {
	if g.loose {
		return sysGitLoose
	}
	return sysGit
}

func (gitSystem) Check() error {
	if _, err := exec.LookPath("git"); err != nil {
		return unsupported("git is not installed")
	}
	return nil
}

// gitVersion returns git --version, or "" without git.
func gitVersion() string {
	out, err := exec.Command("git", "--version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// gitCmd is git run on the repository at dir, with no configuration but
// git's own defaults.
func gitCmd(ctx context.Context, dir string, args ...string) *exec.Cmd {
	return gitDefaults(exec.CommandContext(ctx, "git", append([]string{"--git-dir", dir}, args...)...))
}

func gitDefaults(cmd *exec.Cmd) *exec.Cmd {
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "LC_ALL=C")
	return cmd
}

func gitInit(ctx context.Context, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		return nil
	}
	cmd := gitDefaults(exec.CommandContext(ctx, "git", "init", "--quiet", "--bare", dir))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git init: %v: %s", err, out)
	}
	return nil
}

// gitRSS is the peak resident memory of git processes a store ran, for
// the runner to add to its own.
type gitRSS struct{ peak int64 }

func (g *gitRSS) note(ps *os.ProcessState) { g.peak = max(g.peak, processPeakRSS(ps)) }

func (g gitSystem) Open(ctx context.Context, dir string) (store, error) {
	if err := g.Check(); err != nil {
		return nil, err
	}
	if err := gitInit(ctx, dir); err != nil {
		return nil, err
	}
	return &gitStore{dir: dir, loose: g.loose}, nil
}

type gitStore struct {
	dir   string
	loose bool
	cat   *gitCat
	rss   gitRSS
}

// imageRef is the ref of an image's commit: images are named by their id,
// as a checkpointer keeping them in git would name them.
func imageRef(id manifest.Digest) string { return "refs/images/" + id.Hex() }

// fastImport runs one git fast-import over what write sends it and
// returns what it printed (the answers to get-mark).
func (g *gitStore) fastImport(ctx context.Context, write func(w *bufio.Writer) error) ([]byte, error) {
	cmd := gitCmd(ctx, g.dir, "fast-import", "--quiet")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(stdin, 1<<20)
	werr := write(w)
	if werr == nil {
		werr = w.Flush()
	}
	stdin.Close()
	err = cmd.Wait()
	g.rss.note(cmd.ProcessState)
	if err != nil {
		return nil, fmt.Errorf("git fast-import: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.Bytes(), werr
}

func writeData(w *bufio.Writer, b []byte) {
	fmt.Fprintf(w, "data %d\n", len(b))
	w.Write(b)
	w.WriteByte('\n')
}

// Snapshot commits the image with fast-import: its blobs at their names
// in the tree, its manifest as the commit message, its parents' commits
// as parents, its creation time as the commit time, under the ref of its
// id.
func (g *gitStore) Snapshot(ctx context.Context, f *fixture.Fixture, t time.Time, parents []manifest.Digest) (manifest.Digest, error) {
	if g.loose {
		return manifest.Digest{}, unsupported("snapshots are measured with git fast-import")
	}
	raw, id, err := fixtureManifest(f, t, parents)
	if err != nil {
		return id, err
	}
	blobs := f.Blobs()
	_, err = g.fastImport(ctx, func(w *bufio.Writer) error {
		for i, b := range blobs {
			fmt.Fprintf(w, "blob\nmark :%d\n", i+1)
			writeData(w, b.Data)
		}
		fmt.Fprintf(w, "commit %s\ncommitter pf <pf@localhost> %d +0000\n", imageRef(id), t.Unix())
		writeData(w, raw)
		for i, p := range parents {
			verb := "from"
			if i > 0 {
				verb = "merge"
			}
			fmt.Fprintf(w, "%s %s^0\n", verb, imageRef(p))
		}
		w.WriteString("deleteall\n")
		for i, b := range blobs {
			fmt.Fprintf(w, "M 100644 :%d %s\n", i+1, b.Name)
		}
		w.WriteString("\n")
		return nil
	})
	return id, err
}

// gitBlobID is the object id git gives a blob.
func gitBlobID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// Ingest stores the blobs with one git fast-import, or with
// git hash-object -w --stdin-paths on files holding them, which Stage
// wrote before the timer started: a user storing files has them already.
func (g *gitStore) Ingest(ctx context.Context, blobs [][]byte) ([]string, error) {
	if g.loose {
		return g.hashObjects(ctx, blobs)
	}
	_, err := g.fastImport(ctx, func(w *bufio.Writer) error {
		for _, b := range blobs {
			w.WriteString("blob\n")
			writeData(w, b)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(blobs))
	for i, b := range blobs {
		keys[i] = gitBlobID(b)
	}
	return keys, nil
}

// stagedDir is where hash-object's input files are.
func (g *gitStore) stagedDir() string { return g.dir + ".files" }

// Stage writes the blobs to files for hash-object, before the timer
// starts. It is a no-op for fast-import.
func (g *gitStore) Stage(blobs [][]byte) error {
	if !g.loose {
		return nil
	}
	dir := g.stagedDir()
	if err := mkdirEmpty(dir); err != nil {
		return err
	}
	for i, b := range blobs {
		if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(i)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (g *gitStore) hashObjects(ctx context.Context, blobs [][]byte) ([]string, error) {
	dir := g.stagedDir()
	if _, err := os.Stat(filepath.Join(dir, strconv.Itoa(len(blobs)-1))); err != nil {
		return nil, fmt.Errorf("git hash-object: the blobs were not staged as files: %w", err)
	}
	cmd := gitCmd(ctx, g.dir, "hash-object", "-w", "--stdin-paths")
	var paths bytes.Buffer
	for i := range blobs {
		paths.WriteString(filepath.Join(dir, strconv.Itoa(i)))
		paths.WriteByte('\n')
	}
	cmd.Stdin = &paths
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	g.rss.note(cmd.ProcessState)
	if err != nil {
		return nil, fmt.Errorf("git hash-object: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	keys := strings.Fields(string(out))
	if len(keys) != len(blobs) {
		return nil, fmt.Errorf("git hash-object printed %d ids for %d blobs", len(keys), len(blobs))
	}
	return keys, nil
}

// Get reads a blob through one long-running git cat-file --batch.
func (g *gitStore) Get(ctx context.Context, key string) ([]byte, error) {
	if g.cat == nil {
		cat, err := startCat(ctx, g.dir)
		if err != nil {
			return nil, err
		}
		g.cat = cat
	}
	return g.cat.get(key)
}

// StageLarge writes the large blob to a file for hash-object, before the
// timer starts: a user storing a large file has it already.
func (g *gitStore) StageLarge(b []byte) error {
	if !g.loose {
		return nil
	}
	if err := mkdirEmpty(g.stagedDir()); err != nil {
		return err
	}
	return os.WriteFile(g.largePath(), b, 0o644)
}

func (g *gitStore) largePath() string { return filepath.Join(g.stagedDir(), "large") }

// PutLarge stores a large file as git add does, with
// git hash-object -w: one loose object, streamed, deflated at
// core.looseCompression (fast, by default). fast-import would deflate it
// into a pack at the slower default level, which is not how git stores a
// file a user adds.
func (g *gitStore) PutLarge(ctx context.Context, b []byte) error {
	if !g.loose {
		return unsupported("a large file is measured with git hash-object, as git add stores it")
	}
	cmd := gitCmd(ctx, g.dir, "hash-object", "-w", g.largePath())
	out, err := cmd.CombinedOutput()
	g.rss.note(cmd.ProcessState)
	if err != nil {
		return fmt.Errorf("git hash-object: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

func (g *gitStore) Close() error {
	var err error
	if g.cat != nil {
		err = g.cat.close()
		g.rss.note(g.cat.cmd.ProcessState)
		g.cat = nil
	}
	os.RemoveAll(g.stagedDir())
	return err
}

// peakRSS is the largest resident size of a git process this store ran.
func (g *gitStore) peakRSS() int64 { return g.rss.peak }

type gitCat struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startCat(ctx context.Context, dir string) (*gitCat, error) {
	cmd := gitCmd(ctx, dir, "cat-file", "--batch")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &gitCat{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20)}, nil
}

func (c *gitCat) get(id string) ([]byte, error) {
	if _, err := io.WriteString(c.in, id+"\n"); err != nil {
		return nil, err
	}
	header, err := c.out.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("git cat-file: %w", err)
	}
	f := strings.Fields(header)
	if len(f) != 3 || f[1] != "blob" {
		return nil, fmt.Errorf("git cat-file %s: %s", id, strings.TrimSpace(header))
	}
	n, err := strconv.Atoi(f[2])
	if err != nil {
		return nil, fmt.Errorf("git cat-file %s: %s", id, strings.TrimSpace(header))
	}
	b := make([]byte, n+1)
	if _, err := io.ReadFull(c.out, b); err != nil {
		return nil, fmt.Errorf("git cat-file %s: %w", id, err)
	}
	return b[:n], nil
}

func (c *gitCat) close() error {
	c.in.Close()
	return c.cmd.Wait()
}

// BuildHistory imports every image as a commit with fast-import, one
// branch per agent, in one process: the manifest is the message, the
// creation time the commit time, and every commit's tree holds the
// layer blobs (shared, since every image names the same ones).
func (g gitSystem) BuildHistory(ctx context.Context, dir string, h *history) error {
	if g.loose {
		return unsupported("history is measured with git log on the fast-import repository")
	}
	if err := gitInit(ctx, dir); err != nil {
		return err
	}
	gs := &gitStore{dir: dir}
	_, err := gs.fastImport(ctx, func(w *bufio.Writer) error {
		for i, b := range h.layers.blobs {
			fmt.Fprintf(w, "blob\nmark :%d\n", i+1)
			writeData(w, b.Data)
		}
		base := len(h.layers.blobs) + 1
		for i := range h.n {
			fmt.Fprintf(w, "commit refs/heads/agent-%03d\nmark :%d\ncommitter pf <pf@localhost> %d +0000\n",
				h.chain(i), base+i, h.created(i).Unix())
			writeData(w, h.manifest(i))
			if p := h.parent(i); p >= 0 {
				fmt.Fprintf(w, "from :%d\n", base+p)
			} else {
				for k, b := range h.layers.blobs {
					fmt.Fprintf(w, "M 100644 :%d %s\n", k+1, b.Name)
				}
			}
			w.WriteByte('\n')
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// CompactHistory is git gc, which repacks what fast-import wrote, as
// git fast-import's documentation advises after an import, and writes
// the commit graph that git log reads.
func (g gitSystem) CompactHistory(ctx context.Context, dir string) error {
	if out, err := gitCmd(ctx, dir, "gc", "--quiet").CombinedOutput(); err != nil {
		return fmt.Errorf("git gc: %v: %s", err, out)
	}
	return nil
}

func (gitSystem) Compaction() string { return "git gc" }

func (g gitSystem) OpenHistory(ctx context.Context, dir string) (historyStore, error) {
	if g.loose {
		return nil, unsupported("history is measured with git log on the fast-import repository")
	}
	if err := g.Check(); err != nil {
		return nil, err
	}
	return gitHistory{dir}, nil
}

type gitHistory struct{ dir string }

// Newest runs git log over every branch, newest first, since the time.
// The manifest is the commit's message: each is parsed for its summary.
func (g gitHistory) Newest(ctx context.Context, since time.Time, n int) ([]imageSummary, error) {
	cmd := gitCmd(ctx, g.dir, "log", "--branches", "--since="+strconv.FormatInt(since.Unix(), 10),
		"-n", strconv.Itoa(n), "--format=%B%x00")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git log: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	var res [][]byte
	for _, msg := range bytes.Split(out, []byte{0}) {
		msg = bytes.TrimSpace(msg)
		if len(msg) > 0 {
			res = append(res, msg)
		}
	}
	return summarize(res)
}

func (g gitHistory) Close() error { return nil }
