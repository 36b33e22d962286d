package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/processfork/pf/internal/cas"
)

// The checkpoints jobs: pf against a shadow git repository, the way a
// desktop coding agent checkpoints the user's workspace at every turn.
// Both run as whole processes, one per command, as the agent spawns
// them: `pf snapshot --fs-root`, `pf status`, `pf restore` against
// `git add -A && git commit`, `git status`, `git reset --hard && git clean
// -fd` in a repository whose core.worktree is the workspace.

// Checkpoint job names, as --only takes them; "checkpoints" names all.
const (
	jobCheckpoints = "checkpoints"
	jobCkptGoroot  = "checkpoints-goroot"
	jobCkptSmall   = "checkpoints-small"
	jobCkptGrowing = "checkpoints-growing"
)

// The shadow git repository, pf through a running pf serve (which
// watches the workspace), the machine's own limit on a walk, and the
// start of a pf process that does nothing (pf --version).
const (
	sysShadowGit = "shadow-git"
	sysPFServe   = "pf-serve"
	limitWalk    = "limit: walk"
	limitStart   = "limit: pf start-up"
)

// Steps of a checkpoints job: one workload each.
const (
	stepFirst     = "first"
	stepTurn      = "turn"
	stepUnchanged = "unchanged"
	stepStatus    = "status"
	stepRestore   = "restore"
	stepStored    = "stored"
)

var ckptSteps = []string{stepFirst, stepTurn, stepUnchanged, stepStatus, stepRestore, stepStored}

func ckptWorkload(job, step string) string { return job + "-" + step }

// changedPerTurn is how many files a turn changes: the issue's "a turn
// with 10 files changed".
const changedPerTurn = 10

// CkptTree is the workspace of one checkpoints job.
type CkptTree struct {
	Job string `json:"job"`
	// GorootDir, for the Go tree: the part of $GOROOT/src copied ("" for
	// all of it); an ignored node_modules/ of NodeFiles files is added.
	GorootDir string `json:"goroot_dir,omitempty"`
	NodeFiles int    `json:"node_files,omitempty"`
	// Files small files in directories up to Depth deep, for the
	// generated tree.
	Files int `json:"files,omitempty"`
	Depth int `json:"depth,omitempty"`
	// Grow is the size of the one large file that grows by 1% at every
	// turn, for the growing tree.
	Grow int64 `json:"grow,omitempty"`
	// Turns are the checkpoints after the first; Back, how many turns
	// back the restore goes.
	Turns int `json:"turns"`
	Back  int `json:"back"`
}

// describe is the tree as the report's titles name it.
func (t CkptTree) describe() string {
	switch {
	case t.Grow > 0:
		return fmt.Sprintf("one %s file growing 1%% a turn", sizeName(t.Grow))
	case t.Files > 0:
		return fmt.Sprintf("%s small files %d levels deep", commas(t.Files), t.Depth)
	}
	dir := "$GOROOT/src"
	if t.GorootDir != "" {
		dir += "/" + t.GorootDir
	}
	return dir + " + ignored node_modules/"
}

func (sz Sizes) ckptTree(job string) (CkptTree, bool) {
	for _, t := range sz.Checkpoints {
		if t.Job == job {
			return t, true
		}
	}
	return CkptTree{}, false
}

func isCheckpointsJob(job string) bool { return strings.HasPrefix(job, jobCheckpoints+"-") }

// ckptWorkloads are the rows of one tree's job.
func ckptWorkloads(t CkptTree) []Workload {
	title := func(s string) string { return "checkpoints, " + t.describe() + ": " + s }
	return []Workload{
		{ID: ckptWorkload(t.Job, stepFirst), Job: t.Job, Title: title("first checkpoint"), Metric: metricTime, Ops: 1, StoredMeans: "store size"},
		{ID: ckptWorkload(t.Job, stepTurn), Job: t.Job, Title: title(fmt.Sprintf("a turn with %d files changed", changedPerTurn)), Metric: metricTime, Ops: 1},
		{ID: ckptWorkload(t.Job, stepUnchanged), Job: t.Job, Title: title("checkpoint of an unchanged workspace"), Metric: metricTime, Ops: 1},
		{ID: ckptWorkload(t.Job, stepStatus), Job: t.Job, Title: title(fmt.Sprintf("status, %d files changed", changedPerTurn)), Metric: metricTime, Ops: 1},
		{ID: ckptWorkload(t.Job, stepRestore), Job: t.Job, Title: title(fmt.Sprintf("restore to the checkpoint %d turns back", t.Back)), Metric: metricTime, Ops: 1},
		{ID: ckptWorkload(t.Job, stepStored), Job: t.Job, Title: title(fmt.Sprintf("store after the first checkpoint and %d turns", t.Turns)), Metric: metricBytes, Ops: 1, StoredMeans: "store size"},
	}
}

// checkpointer is one system's way of keeping checkpoints of the
// workspace. Each method runs whole processes and returns the time they
// took, one after another, as the agent would wait for them.
type checkpointer interface {
	// reset makes a new empty store (not timed).
	reset() error
	checkpoint() (id string, d time.Duration, err error)
	status() (time.Duration, error)
	restore(id string) (time.Duration, error)
	// stored is the store's size on disk, after git gc for git (final
	// says this is the last measure, after which it may be repacked); a
	// note says what else to know.
	stored(final bool) (int64, string, error)
	// missing says why the system lacks a step, or "".
	missing(step string) string
	// peak returns and resets the peak resident size of the processes
	// run since the last call.
	peak() int64
}

// procs runs and times the processes of a checkpointer.
type procs struct {
	ctx    context.Context
	env    []string
	maxRSS int64
}

// run runs name with args in dir and returns its standard output and how
// long it took from start to exit.
func (p *procs) run(dir, name string, args ...string) ([]byte, time.Duration, error) {
	cmd := exec.CommandContext(p.ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = p.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	p.maxRSS = max(p.maxRSS, processPeakRSS(cmd.ProcessState))
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return nil, d, fmt.Errorf("%s %s: %v: %s", filepath.Base(name), strings.Join(args, " "), err, msg)
	}
	return stdout.Bytes(), d, nil
}

func (p *procs) peak() int64 {
	v := p.maxRSS
	p.maxRSS = 0
	return v
}

// pfCheckpointer runs the pf binary on a store of its own.
type pfCheckpointer struct {
	procs
	bin, store, ws string
}

func (c *pfCheckpointer) pf(args ...string) ([]byte, time.Duration, error) {
	return c.run(c.ws, c.bin, append([]string{"--store", c.store}, args...)...)
}

func (c *pfCheckpointer) reset() error {
	if err := os.RemoveAll(filepath.Dir(c.store)); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.store), 0o755); err != nil {
		return err
	}
	// What an earlier store's snapshot left in the workspace names an
	// image the new store lacks.
	if err := os.Remove(filepath.Join(c.ws, ".pfcid")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	_, _, err := c.pf("init")
	return err
}

func (c *pfCheckpointer) checkpoint() (string, time.Duration, error) {
	out, d, err := c.pf("snapshot", "--fs-root", c.ws)
	return strings.TrimSpace(string(out)), d, err
}

func (c *pfCheckpointer) status() (time.Duration, error) {
	_, d, err := c.pf("status", c.ws)
	return d, err
}

func (c *pfCheckpointer) restore(id string) (time.Duration, error) {
	_, d, err := c.pf("restore", id, "--to", c.ws)
	return d, err
}

// stored measures the store as it is, and at the last measure after
// the maintenance a user runs beside git gc: pf gc, then pf compact,
// which writes the values again at zstd's strongest level.
func (c *pfCheckpointer) stored(final bool) (int64, string, error) {
	disk, _, err := diskUsage(filepath.Dir(c.store))
	if err != nil || !final {
		return disk, "", err
	}
	for _, cmd := range []string{"gc", "compact"} {
		if _, _, err := c.pf(cmd); err != nil {
			return 0, "", err
		}
	}
	after, _, err := diskUsage(filepath.Dir(c.store))
	return after, fmt.Sprintf("after pf gc and pf compact; %s before", fmtBytes(disk)), err
}

// missing asks the binary whether it has the step's command: pf gained
// status and restore after this job was written.
func (c *pfCheckpointer) missing(step string) string {
	cmd := map[string]string{stepStatus: "status", stepRestore: "restore"}[step]
	if cmd == "" {
		return ""
	}
	if _, _, err := c.run(c.ws, c.bin, cmd, "--help"); err != nil {
		return "this pf has no " + cmd + " command"
	}
	return ""
}

// pfServeCheckpointer runs the same pf commands as pfCheckpointer, each a
// whole process, with a pf serve running on the store: they forward to
// it, and it watches the workspace between them.
type pfServeCheckpointer struct {
	pfCheckpointer
	server *exec.Cmd
}

func (c *pfServeCheckpointer) reset() error {
	c.stop()
	if err := c.pfCheckpointer.reset(); err != nil {
		return err
	}
	return c.start()
}

// stored measures as pfCheckpointer does; the server, which keeps the
// store open, stops for the last measure's pf compact and starts again.
func (c *pfServeCheckpointer) stored(final bool) (int64, string, error) {
	if !final {
		return c.pfCheckpointer.stored(false)
	}
	c.stop()
	n, note, err := c.pfCheckpointer.stored(true)
	if err != nil {
		return n, note, err
	}
	return n, note, c.start()
}

// start starts pf serve on the store and waits until it listens.
func (c *pfServeCheckpointer) start() error {
	cmd := exec.CommandContext(c.ctx, c.bin, "--store", c.store, "serve", "--quiet")
	cmd.Dir, cmd.Env = c.ws, c.env
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	c.server = cmd
	// It prints "serving STORE" once it listens.
	line := make([]byte, 8)
	if _, err := io.ReadFull(out, line); err != nil || string(line) != "serving " {
		c.stop()
		return fmt.Errorf("pf serve did not start: %q %v", line, err)
	}
	go io.Copy(io.Discard, out)
	return nil
}

// peak counts the server beside the forwarding processes: it does the
// work of each step, and what it keeps between steps (the watched
// trees) is memory the user pays for too.
func (c *pfServeCheckpointer) peak() int64 {
	v := c.pfCheckpointer.peak()
	if c.server != nil {
		if hwm, ok := processHWM(c.server.Process.Pid); ok {
			v = max(v, hwm)
		}
	}
	return v
}

// stop stops the server, if one runs, as SIGTERM does.
func (c *pfServeCheckpointer) stop() {
	if c.server == nil {
		return
	}
	c.server.Process.Signal(os.Interrupt)
	c.server.Wait()
	c.server = nil
}

// gitCheckpointer is a shadow repository: its own directory, its
// core.worktree the workspace, git's defaults otherwise.
type gitCheckpointer struct {
	procs
	dir, ws string
}

func (c *gitCheckpointer) git(args ...string) ([]byte, time.Duration, error) {
	return c.run(c.dir, "git", args...)
}

func (c *gitCheckpointer) reset() error {
	if err := mkdirEmpty(c.dir); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"init", "--quiet"},
		{"config", "core.worktree", c.ws},
		{"config", "user.name", "pf-bench"},
		{"config", "user.email", "pf-bench@localhost"},
		// No automatic gc in the background: it made the final git gc
		// fail ("gc is already running") and would time some steps
		// beside it. The store's size is measured after an explicit gc.
		{"config", "gc.auto", "0"},
	} {
		if _, _, err := c.git(args...); err != nil {
			return err
		}
	}
	return nil
}

func (c *gitCheckpointer) checkpoint() (string, time.Duration, error) {
	_, d1, err := c.git("add", "-A")
	if err != nil {
		return "", d1, err
	}
	_, d2, err := c.git("commit", "--quiet", "--allow-empty", "--no-verify", "-m", "checkpoint")
	if err != nil {
		return "", d1 + d2, err
	}
	out, _, err := c.git("rev-parse", "HEAD")
	return strings.TrimSpace(string(out)), d1 + d2, err
}

func (c *gitCheckpointer) status() (time.Duration, error) {
	_, d, err := c.git("status", "--porcelain")
	return d, err
}

func (c *gitCheckpointer) restore(id string) (time.Duration, error) {
	_, d1, err := c.git("reset", "--quiet", "--hard", id)
	if err != nil {
		return d1, err
	}
	_, d2, err := c.git("clean", "--quiet", "-fd")
	return d1 + d2, err
}

func (c *gitCheckpointer) stored(final bool) (int64, string, error) {
	if !final {
		disk, _, err := diskUsage(c.dir)
		return disk, "", err
	}
	before, _, err := diskUsage(c.dir)
	if err != nil {
		return 0, "", err
	}
	if _, _, err := c.git("gc", "--quiet"); err != nil {
		return 0, "", err
	}
	after, _, err := diskUsage(c.dir)
	return after, fmt.Sprintf("after git gc; %s before", fmtBytes(before)), err
}

func (c *gitCheckpointer) missing(string) string { return "" }

// checkpoints runs one tree's job on pf or the shadow repository.
func (j *job) checkpoints(system string) ([]Row, error) {
	t, ok := j.Sizes.ckptTree(j.Job)
	if !ok {
		return nil, fmt.Errorf("no job %q", j.Job)
	}
	rows := map[string]*Row{}
	var out []Row
	for _, w := range ckptWorkloads(t) {
		rows[w.ID] = &Row{Workload: w.ID, System: system}
	}
	all := func(f func(r *Row)) []Row {
		out = out[:0]
		for _, step := range ckptSteps {
			r := rows[ckptWorkload(t.Job, step)]
			f(r)
			out = append(out, *r)
		}
		return out
	}
	work, err := filepath.Abs(j.Work)
	if err != nil {
		return nil, err
	}
	ws := filepath.Join(work, "ws")
	env := append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "LC_ALL=C")
	var c checkpointer
	switch system {
	case sysPF:
		if j.PF == "" {
			why := "no pf binary to run: " + j.PFMissing
			return all(func(r *Row) { r.Skipped = why }), nil
		}
		c = &pfCheckpointer{procs: procs{ctx: j.ctx, env: env}, bin: j.PF, store: filepath.Join(work, "pf", "store.pf"), ws: ws}
	case sysPFServe:
		if j.PF == "" {
			why := "no pf binary to run: " + j.PFMissing
			return all(func(r *Row) { r.Skipped = why }), nil
		}
		sc := &pfServeCheckpointer{pfCheckpointer{procs: procs{ctx: j.ctx, env: env}, bin: j.PF, store: filepath.Join(work, "pf-serve", "store.pf"), ws: ws}, nil}
		defer sc.stop()
		c = sc
	case sysShadowGit:
		if _, err := exec.LookPath("git"); err != nil {
			return all(func(r *Row) { r.Skipped = "git is not installed" }), nil
		}
		c = &gitCheckpointer{procs: procs{ctx: j.ctx, env: env}, dir: filepath.Join(work, "shadow"), ws: ws}
	default:
		return nil, fmt.Errorf("no checkpoints on %s", system)
	}
	j.progress("writing the workspace")
	files, note, err := makeWorkspace(t, ws)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		r.Note = note
	}
	limits, err := j.runCheckpoints(t, c, rows, ws, files)
	if err != nil {
		// The steps measured before the failure keep their figures.
		return all(func(r *Row) {
			if len(r.Seconds) == 0 && r.Stored == nil && r.Skipped == "" {
				r.Error = err.Error()
			}
		}), err
	}
	return append(all(func(*Row) {}), limits...), nil
}

// runCheckpoints runs the steps in order, each on the store the ones
// before left: the first checkpoint, the turns, unchanged checkpoints,
// status, restore, and the store's size. Through pf serve, it then times
// the restore's limit on the same workspace (replaceLimit), its row
// returned.
func (j *job) runCheckpoints(t CkptTree, c checkpointer, rows map[string]*Row, ws string, files []string) (limits []Row, err error) {
	row := func(step string) *Row { return rows[ckptWorkload(t.Job, step)] }
	peak := func(r *Row) { r.PeakRSS = int64p(c.peak()) }
	var ids []string
	first := row(stepFirst)
	first.Seconds, err = j.rounds("first checkpoint", j.Policy.CkptFirst, func() (time.Duration, error) {
		if err := c.reset(); err != nil {
			return 0, err
		}
		c.peak()
		syncAll()
		id, d, err := c.checkpoint()
		ids = []string{id}
		return d, err
	})
	if err != nil {
		return nil, err
	}
	peak(first)
	size, _, err := c.stored(false)
	if err != nil {
		return nil, err
	}
	first.Stored = int64p(size)

	turn := row(stepTurn)
	for i := 1; i <= t.Turns; i++ {
		j.progress(fmt.Sprintf("turn %d of %d", i, t.Turns))
		if err := changeFiles(t, ws, files, i); err != nil {
			return nil, err
		}
		id, d, err := c.checkpoint()
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
		turn.Seconds = append(turn.Seconds, d.Seconds())
	}
	peak(turn)
	stored := row(stepStored)
	n, note, err := c.stored(true)
	if err != nil {
		return nil, err
	}
	c.peak() // the maintenance's processes (pf compact) are no step's
	stored.Stored = int64p(n)
	if note != "" {
		stored.Note = note
	}

	unchanged := row(stepUnchanged)
	unchanged.Seconds, err = j.rounds("unchanged", j.Policy.CkptStep, func() (time.Duration, error) {
		_, d, err := c.checkpoint()
		return d, err
	})
	if err != nil {
		return nil, err
	}
	peak(unchanged)

	if err := changeFiles(t, ws, files, t.Turns+1); err != nil {
		return nil, err
	}
	status := row(stepStatus)
	if why := c.missing(stepStatus); why != "" {
		status.Skipped = why
	} else {
		status.Seconds, err = j.rounds("status", j.Policy.CkptStep, c.status)
		if err != nil {
			return nil, err
		}
		peak(status)
	}
	latest, _, err := c.checkpoint()
	if err != nil {
		return nil, err
	}
	ids = append(ids, latest)

	restore := row(stepRestore)
	if why := c.missing(stepRestore); why != "" {
		restore.Skipped = why
		return nil, nil
	}
	back := ids[max(0, len(ids)-1-t.Back)]
	restore.Seconds, err = j.rounds("restore", j.Policy.CkptRestore, func() (time.Duration, error) {
		c.peak()
		d, err := c.restore(back)
		restore.PeakRSS = int64p(max(c.peak(), ptrOr(restore.PeakRSS)))
		if err == nil {
			_, err = c.restore(latest) // and forward again, not timed
		}
		if err == nil {
			// A checkpoint of the workspace as it now is, not timed: in
			// an agent's loop a restore follows the checkpoint of the
			// last turn, not another restore, and pf serve may restore
			// faster right after a restore (its undo image is the one
			// just restored).
			_, _, err = c.checkpoint()
		}
		return d, err
	})
	// The growing tree's restore cuts its log short in place (the log
	// only grew): no file of its is replaced whole.
	sc, served := c.(*pfServeCheckpointer)
	if err != nil || !served || t.Grow > 0 {
		return nil, err
	}
	replace, ok, err := j.replaceLimit(t, sc, files, back, latest)
	if err != nil || !ok {
		return nil, err
	}
	return []Row{replace}, nil
}

func ptrOr(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// ckptLimits times the walk a checkpoint of a workspace cannot do
// without: listing every directory and reading every entry's stat, in
// one goroutine, outside the ignored directories, as find(1) does; the
// reads a first checkpoint cannot do without (firstLimit); and the start
// of a pf process. The writes a restore cannot do without are timed on
// pf serve's own workspace (replaceLimit).
func (j *job) ckptLimits() ([]Row, error) {
	t, ok := j.Sizes.ckptTree(j.Job)
	if !ok {
		return nil, fmt.Errorf("no job %q", j.Job)
	}
	ws, err := filepath.Abs(filepath.Join(j.Work, "ws"))
	if err != nil {
		return nil, err
	}
	j.progress("writing the workspace")
	if _, _, err := makeWorkspace(t, ws); err != nil {
		return nil, err
	}
	walk := Row{Workload: ckptWorkload(t.Job, stepUnchanged), System: limitWalk}
	walk.Seconds, err = j.rounds("walk", j.Policy.CkptStep, func() (time.Duration, error) {
		start := time.Now()
		err := filepath.WalkDir(ws, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git") {
				return filepath.SkipDir
			}
			_, err = d.Info()
			return err
		})
		return time.Since(start), err
	})
	if err != nil {
		return nil, err
	}
	status := walk
	status.Workload = ckptWorkload(t.Job, stepStatus)
	rows := []Row{walk, status}
	first, err := j.firstLimit(t, ws)
	if err != nil {
		return nil, err
	}
	rows = append(rows, first...)
	if j.PF == "" {
		return rows, nil
	}
	// Every step is a pf process, served or not: what starting one
	// costs bounds each of them.
	start := Row{Workload: ckptWorkload(t.Job, stepUnchanged), System: limitStart}
	start.Seconds, err = j.rounds("pf --version", j.Policy.CkptStep, func() (time.Duration, error) {
		return runTimed(j.ctx, j.PF, "--version")
	})
	if err != nil {
		return nil, err
	}
	for _, step := range []string{stepFirst, stepUnchanged, stepTurn, stepStatus, stepRestore} {
		r := start
		r.Workload = ckptWorkload(t.Job, step)
		rows = append(rows, r)
	}
	return rows, nil
}

// Workspaces.

// makeWorkspace writes the tree's workspace into ws and returns the
// files its turns may change (ignored and large files left out) and a
// note saying what it holds.
func makeWorkspace(t CkptTree, ws string) ([]string, string, error) {
	if err := mkdirEmpty(ws); err != nil {
		return nil, "", err
	}
	var err error
	switch {
	case t.Grow > 0:
		err = writeGrowing(t, ws)
	case t.Files > 0:
		err = writeSmallFiles(t, ws)
	default:
		err = copyGoroot(t, ws)
	}
	if err != nil {
		return nil, "", err
	}
	var files []string
	var n, dirs int
	var size int64
	err = filepath.WalkDir(ws, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			dirs++
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n++
		size += info.Size()
		if d.Type().IsRegular() && info.Size() < 1<<20 && d.Name() != ".gitignore" {
			rel, _ := filepath.Rel(ws, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	slices.Sort(files)
	note := fmt.Sprintf("%s files, %s dirs, %s", commas(n), commas(dirs), fmtBytes(size))
	if t.NodeFiles > 0 {
		note += fmt.Sprintf(", and %s ignored", commas(t.NodeFiles))
	}
	return files, note, nil
}

// gorootSrc is $GOROOT/src of the go command on PATH, else of this
// binary's toolchain.
func gorootSrc() string {
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		if root := strings.TrimSpace(string(out)); root != "" {
			return filepath.Join(root, "src")
		}
	}
	return filepath.Join(runtime.GOROOT(), "src")
}

// copyGoroot copies $GOROOT/src (or a part) into ws, files, directories
// and symbolic links with their modes, and adds an ignored node_modules/.
func copyGoroot(t CkptTree, ws string) error {
	src := gorootSrc()
	if t.GorootDir != "" {
		src = filepath.Join(src, filepath.FromSlash(t.GorootDir))
	}
	if _, err := os.Stat(src); err != nil {
		return unsupported("no Go source tree to copy: %v", err)
	}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(ws, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(to, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case d.Type().IsRegular():
			return copyFile(p, to, info.Mode().Perm()|0o600)
		}
		return nil
	})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(0x90007, 1))
	for i := range t.NodeFiles {
		p := filepath.Join(ws, "node_modules", fmt.Sprintf("pkg%03d", i/50), "lib", fmt.Sprintf("m%02d.js", i%50))
		if err := writeText(p, rng, 200+rng.IntN(4000)); err != nil {
			return err
		}
	}
	return appendFile(filepath.Join(ws, ".gitignore"), "node_modules/\n")
}

func copyFile(from, to string, mode fs.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeSmallFiles makes t.Files small text files in directories of up to
// t.Depth levels: 20 files a directory, the directories nested by the
// digits of their number so that their paths share prefixes as a
// project's do.
func writeSmallFiles(t CkptTree, ws string) error {
	const perDir = 20
	rng := rand.New(rand.NewPCG(0x5a11, 2))
	for i := 0; i < t.Files; i += perDir {
		n := i / perDir
		depth := 1 + n%t.Depth
		parts := make([]string, depth)
		for k := range parts {
			parts[k] = fmt.Sprintf("d%d", (n>>(2*k))&3)
		}
		dir := filepath.Join(append([]string{ws}, parts...)...)
		for f := i; f < min(i+perDir, t.Files); f++ {
			if err := writeText(filepath.Join(dir, fmt.Sprintf("f%06d.txt", f)), rng, 100+rng.IntN(1500)); err != nil {
				return err
			}
		}
	}
	return appendFile(filepath.Join(ws, ".gitignore"), "node_modules/\n")
}

// writeGrowing makes the growing tree: data/app.log of t.Grow bytes of
// log lines and 100 small source files.
func writeGrowing(t CkptTree, ws string) error {
	rng := rand.New(rand.NewPCG(0x9a0, 3))
	for i := range 100 {
		if err := writeText(filepath.Join(ws, "src", fmt.Sprintf("f%03d.txt", i)), rng, 200+rng.IntN(3000)); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(ws, "data"), 0o755); err != nil {
		return err
	}
	if err := appendLog(filepath.Join(ws, growingLog), t.Grow, 0); err != nil {
		return err
	}
	return appendFile(filepath.Join(ws, ".gitignore"), "node_modules/\n")
}

// appendLog appends n bytes of log lines to path, the lines of turn
// (their times and numbers) different from every other turn's.
func appendLog(path string, n int64, turn int) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(0x106, uint64(turn)))
	levels := []string{"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"}
	words := strings.Fields(loremWords)
	buf := make([]byte, 0, 4<<20)
	at := time.Date(2026, 5, 5, 14, 0, 0, 0, time.UTC).Add(time.Duration(turn) * time.Hour)
	for left := n; left > 0; {
		buf = buf[:0]
		for len(buf) < cap(buf)-512 {
			at = at.Add(time.Duration(rng.IntN(5000)) * time.Microsecond)
			buf = at.AppendFormat(buf, "2006-01-02T15:04:05.000000Z ")
			buf = append(buf, levels[rng.IntN(len(levels))]...)
			buf = fmt.Appendf(buf, " req=%08x user=%d ", rng.Uint32(), rng.IntN(100000))
			for range 4 + rng.IntN(10) {
				buf = append(buf, words[rng.IntN(len(words))]...)
				buf = append(buf, ' ')
			}
			buf = fmt.Appendf(buf, "took=%dms\n", rng.IntN(2000))
		}
		if int64(len(buf)) > left {
			buf = buf[:left]
		}
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return err
		}
		left -= int64(len(buf))
	}
	return f.Close()
}

// changeFiles is turn's work on the workspace: changedPerTurn files
// changed, one of them new; in the growing tree, the large file grows by
// 1% as one of them.
func changeFiles(t CkptTree, ws string, files []string, turn int) error {
	if t.Grow > 0 {
		if err := appendLog(filepath.Join(ws, growingLog), t.Grow/100, turn); err != nil {
			return err
		}
	}
	edits, added, rng := turnOf(t, files, turn)
	for _, f := range edits {
		line := fmt.Sprintf("// turn %d: an edit of %s\n", turn, f)
		if err := appendFile(filepath.Join(ws, f), line); err != nil {
			return err
		}
	}
	return writeText(filepath.Join(ws, added), rng, 500+rng.IntN(2000))
}

// growingLog is the growing tree's large file, which grows at every turn.
const growingLog = "data/app.log"

// turnOf returns the files of files that turn appends a line to and the
// new file it writes (paths from the workspace), with the generator that
// writes the new file's text: what changeFiles does, for those that must
// know which files a turn touches.
func turnOf(t CkptTree, files []string, turn int) (edits []string, added string, rng *rand.Rand) {
	rng = rand.New(rand.NewPCG(0x7e, uint64(turn)))
	n := changedPerTurn - 1
	if t.Grow > 0 {
		n-- // the log is one
	}
	for _, i := range rng.Perm(len(files))[:min(n, len(files))] {
		edits = append(edits, files[i])
	}
	dir := filepath.Dir(files[rng.IntN(len(files))])
	return edits, filepath.Join(dir, fmt.Sprintf("turn%03d.txt", turn)), rng
}

func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeText writes a new file of about n bytes of text lines, making its
// directory.
func writeText(path string, rng *rand.Rand, n int) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	words := strings.Fields(loremWords)
	var b bytes.Buffer
	for b.Len() < n {
		for range 3 + rng.IntN(9) {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d\n", rng.IntN(10000))
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

const loremWords = `func return if else for range var const type struct interface map chan go defer select case
default switch break continue package import error nil true false string int byte rune len cap append make new
copy delete panic recover close the of and to in is that it was for on are as with his they at be this from have or
by one had not but what all were when we there can an your which their said if do will each about how up out them`

// ckptWhy explains a missed speed goal of a checkpoint step, whose whole
// pf process had budget seconds, from the limit rows measured beside it:
// pf alone must walk the workspace to see what changed, which pf serve's
// watcher spares it; and every pf process must start.
func (rep *Report) ckptWhy(job, step, sys string, pf Row, budget float64) string {
	var parts []string
	if walk, ok := rep.row(ckptWorkload(job, stepUnchanged), limitWalk); ok && walk.ok() && sys == sysPF && step != stepFirst {
		w := walk.median()
		s := fmt.Sprintf("reading every directory and the stat of every file, in one goroutine with nothing else to do, takes %s here (%.0f%% of pf's %s)",
			fmtDuration(w), 100*w/pf.median(), fmtDuration(pf.median()))
		if w > budget {
			s += fmt.Sprintf(", more than the %s the goal leaves the whole step: no checkpoint that walks the tree meets it; through pf serve, which watches the workspace, pf reads only what changed", fmtDuration(budget))
		} else {
			s += ": pf must do that walk to see what changed, unless pf serve watches the workspace"
		}
		parts = append(parts, s)
	}
	start, hasStart := rep.row(ckptWorkload(job, step), limitStart)
	hasStart = hasStart && start.ok()
	// The first checkpoint's limit counts a start in (firstWhy).
	if hasStart && step != stepFirst {
		st := start.median()
		s := fmt.Sprintf("starting a pf process that does nothing (pf --version) takes %s here (%.0f%% of pf's %s)",
			fmtDuration(st), 100*st/pf.median(), fmtDuration(pf.median()))
		if st > budget {
			s += fmt.Sprintf(", more than the %s the goal leaves the whole step: no pf process meets it; an app that keeps pf serve's socket open posts to its API instead (docs/serve.md)", fmtDuration(budget))
		}
		parts = append(parts, s)
	}
	if replace, ok := rep.row(ckptWorkload(job, step), limitReplace); ok && replace.ok() && step == stepRestore {
		r := replace.median()
		s := fmt.Sprintf("writing the files that differ the way a restore must (a temporary file in each one's directory, renamed over it; %s), on every core with nothing else to do, takes %s here (%.0f%% of pf's %s)",
			replace.Note, fmtDuration(r), 100*r/pf.median(), fmtDuration(pf.median()))
		if hasStart {
			both := r + start.median()
			s += fmt.Sprintf("; with a pf process's start, %s", fmtDuration(both))
			if both > budget {
				s += fmt.Sprintf(", more than the %s the goal leaves the whole step: no pf restore process meets it", fmtDuration(budget))
			}
		} else if r > budget {
			s += fmt.Sprintf(", more than the %s the goal leaves the whole step: no restore that replaces the files meets it", fmtDuration(budget))
		}
		parts = append(parts, s)
	}
	if read, ok := rep.row(ckptWorkload(job, step), limitReadHash); ok && read.ok() && step == stepFirst {
		packed, hasPacked := rep.row(ckptWorkload(job, step), limitReadHashZstd)
		packedStored, hasPackedStored := rep.row(ckptWorkload(job, step), limitReadHashZstdBolt)
		stored, hasStored := rep.row(ckptWorkload(job, step), limitReadHashBolt)
		cut, hasCut := rep.row(ckptWorkload(job, step), limitReadCutHashZstdBolt)
		if hasPackedStored && packedStored.ok() {
			// Storing what it compresses is the larger floor.
			stored, hasStored = packedStored, true
		}
		parts = append(parts, firstWhy(read, packed, hasPacked && packed.ok(), stored, hasStored && stored.ok(), cut, hasCut && cut.ok(), start, hasStart, pf, budget))
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, "; ") + "."
}

// firstWhy weighs a first checkpoint against its limit rows, reading
// and hashing, and compressing too if measured (packed), and storing
// too if measured (stored: the raw bytes where a put compresses none,
// limitReadHashBolt; what zstd made of them otherwise,
// limitReadHashZstdBolt), and cutting too if measured (cut:
// limitReadCutHashZstdBolt, where the tree has files a put cuts), plus
// a pf process's start if measured: over the goal's budget, no first
// checkpoint (into a store that compresses as pf's does, or built as
// pf's is) meets the goal; under it, the limit does not explain the
// miss, and the report says how much of pf's time is beyond it, without
// claiming that pf could reach it.
func firstWhy(read, packed Row, hasPacked bool, stored Row, hasStored bool, cut Row, hasCut bool, start Row, hasStart bool, pf Row, budget float64) string {
	r := read.median()
	s := fmt.Sprintf("listing every directory and opening, reading, hashing (SHA-256) and closing every file (%s), on every core with nothing stored, takes %s here (%.0f%% of pf's %s)",
		read.Note, fmtDuration(r), 100*r/pf.median(), fmtDuration(pf.median()))
	floor, beyond, whom := r, "compressing and storing the bytes", "no first checkpoint"
	over := "its tree of the workspace, its commit, and whatever its own reading, hashing and compressing cost over the floor's"
	if hasPacked {
		z := packed.median()
		s += fmt.Sprintf("; compressing each file too as a put does (zstd at pf's level, the files a put tries: %s), %s (%.0f%%)",
			packed.Note, fmtDuration(z), 100*z/pf.median())
		floor, beyond, whom = z, "storing the bytes", "no first checkpoint into a store that compresses as pf's does"
	}
	if hasStored && hasPacked {
		b := stored.median()
		s += fmt.Sprintf("; storing what that makes too, as a put writes early, into one new bbolt file with pf's options (each piece a value, or packed if small, in commits of 8 MiB each fsync'd, one in flight while the next fills; an index entry per file keyed by its digest: %s), %s (%.0f%%)",
			stored.Note, fmtDuration(b), 100*b/pf.median())
		floor, beyond, whom = b, "what its store does beyond compressing and writing the bytes and their index (cutting them into chunks, hashing each chunk, value formats, pack members, counts, provisional marks, the stat cache)", "no first checkpoint into a store that compresses as pf's does and keeps the bytes in a bbolt file"
		over = "its tree of the workspace, and whatever its own reading, hashing, compressing and committing cost over the floor's"
		if hasCut {
			c := cut.median()
			s += fmt.Sprintf("; cutting each file over %s into chunks as a put does too, and hashing each chunk (SHA-256) as well as the whole file: the work pf's format asks so that a later checkpoint stores only the chunks that changed (%s), %s (%.0f%%)",
				sizeName(cas.InlineMax), cut.Note, fmtDuration(c), 100*c/pf.median())
			if c < pf.median() {
				floor, beyond, whom = c, "what its store does beyond cutting, hashing, compressing and writing the bytes and their index (value formats, pack members, counts, provisional marks, the stat cache)", "no first checkpoint into a store that cuts its large files into chunks keyed by their digests, compresses as pf's does and keeps the bytes in a bbolt file"
			} else {
				// pf did that work in less time: done the floor's way
				// it bounds nothing, and the miss is weighed against
				// the floor before it.
				s += ", more than pf's own time: a floor measured slower than pf bounds nothing (the machine was busier while it ran, or pf overlaps the work better still), and the floor is the one before it"
			}
		}
	} else if hasStored {
		b := stored.median()
		s += fmt.Sprintf("; storing each file's bytes too, raw as a put keeps them, into one new bbolt file with pf's options (packs of 4 MiB, an index entry per file keyed by its digest: %s), %s (%.0f%%)",
			stored.Note, fmtDuration(b), 100*b/pf.median())
		floor, beyond, whom = b, "what its store keeps beyond the bytes and their index (value formats, pack members, counts, holds, the stat cache)", "no first checkpoint into a store built as pf's is"
		over = "its tree of the workspace, and whatever its own reading, hashing, packing and committing cost over the floor's"
	}
	if hasStart {
		floor += start.median()
		s += fmt.Sprintf("; with a pf process's start, %s", fmtDuration(floor))
	}
	if floor > budget {
		return s + fmt.Sprintf(", more than the %s the goal leaves the whole step: %s meets it", fmtDuration(budget), whom)
	}
	return s + fmt.Sprintf(", under the %s the goal leaves the whole step: this limit does not explain the miss; the rest of pf's time, %s (%.0f%%), is spent beyond this floor: %s, %s",
		fmtDuration(budget), fmtDuration(pf.median()-floor), 100*(pf.median()-floor)/pf.median(), beyond, over)
}

// checkpointGoals are the goals for each tree: pf's speed over
// the shadow repository's on each step, the unchanged checkpoint's whole
// process time, the store's size, and the growing tree's peak memory.
func (rep *Report) checkpointGoals() []goal {
	var out []goal
	for _, t := range rep.Sizes.Checkpoints {
		tree := t.describe()
		add := func(g goal) {
			g.goal = tree + ": " + g.goal
			if rep.Quick {
				g.verdict = verdictUnmeased
				g.measured += "; the issue's trees run only in the full run"
			}
			out = append(out, g)
		}
		for _, sys := range []string{sysPF, sysPFServe} {
			how := ""
			if sys == sysPFServe {
				how = ", through pf serve"
			}
			for _, sg := range []struct {
				step, what string
				min        float64
			}{
				{stepTurn, "a turn with 10 files changed ≥ 5× faster than git add -A + git commit", 5},
				{stepFirst, "first checkpoint ≥ 10× faster than the shadow repository's", 10},
				{stepStatus, "pf status ≥ 3× faster than git status", 3},
				{stepRestore, "pf restore ≥ 5× faster than git reset --hard + git clean -fd", 5},
			} {
				pf, ok1 := rep.row(ckptWorkload(t.Job, sg.step), sys)
				git, ok2 := rep.row(ckptWorkload(t.Job, sg.step), sysShadowGit)
				r := speedRatio(pf, git)
				if !ok1 || !ok2 || !pf.ok() || !git.ok() || math.IsNaN(r) {
					continue
				}
				g := goal{goal: sg.what + how,
					measured: fmt.Sprintf("%s (pf %s, git %s)", fmtRatio(r), fmtDuration(pf.median()), fmtDuration(git.median())),
					verdict:  judge(r >= sg.min)}
				if r < sg.min {
					g.why = rep.ckptWhy(t.Job, sg.step, sys, pf, git.median()/sg.min)
				}
				add(g)
			}
			if pf, ok := rep.row(ckptWorkload(t.Job, stepUnchanged), sys); ok && pf.ok() && len(pf.Seconds) > 0 {
				m := pf.median()
				g := goal{goal: "checkpoint of an unchanged workspace ≤ 30 ms, the whole pf snapshot process" + how,
					measured: fmtDuration(m), verdict: judge(m <= 0.030)}
				if m > 0.030 {
					g.why = rep.ckptWhy(t.Job, stepUnchanged, sys, pf, 0.030)
				}
				add(g)
			}
		}
		if pf, git, ok := rep.pair(ckptWorkload(t.Job, stepStored), sysShadowGit); ok && pf.Stored != nil && git.Stored != nil {
			add(goal{goal: fmt.Sprintf("store after the first checkpoint and %d turns ≤ the shadow repository after git gc", t.Turns),
				measured: fmt.Sprintf("%s (pf %s, git %s)", fmtRatio(bytesRatio(pf, git)), fmtBytes(*pf.Stored), fmtBytes(*git.Stored)),
				verdict:  judge(*pf.Stored <= *git.Stored)})
		}
		if t.Grow > 0 {
			var peak int64
			for _, step := range ckptSteps {
				for _, sys := range []string{sysPF, sysPFServe} {
					if r, ok := rep.row(ckptWorkload(t.Job, step), sys); ok && r.PeakRSS != nil {
						peak = max(peak, *r.PeakRSS)
					}
				}
			}
			if peak > 0 {
				add(goal{goal: "peak RSS of every pf process ≤ 128 MiB", measured: fmtBytes(peak), verdict: judge(peak <= 128<<20)})
			}
		}
	}
	return out
}
