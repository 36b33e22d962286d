package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/processfork/pf/internal/progress"
)

// Config is one run of pf-bench.
type Config struct {
	// Quick runs smaller stores and fewer rounds: about a minute.
	Quick bool
	// Only names the jobs and systems to run (see Sizes.Select).
	Only []string
	// Out, when set, receives bench.md, bench.json and plot.svg, and keeps
	// the datasets and the history stores (in cache/) between runs.
	Out string
	// Markdown, when set, also receives the Markdown report, with its
	// plot beside it: the same name with .svg.
	Markdown string
	// Command is the command line as typed, recorded in the report.
	Command string
	// Self, when set, is the command that runs one job in a process of
	// its own: its standard input gets the job, its standard output
	// returns the rows (see ChildMain). Without it, jobs run in this
	// process and peak memory is not measured.
	Self []string
	// Progress, when set, shows what is running: give it a terminal.
	Progress io.Writer
	// PF is the pf binary the checkpoints jobs run; "" builds one from
	// the module in the working directory with go build.
	PF string
}

// ErrUnknownName is returned for a name --only does not know.
var ErrUnknownName = errors.New("unknown name")

// Run runs the benchmark: every selected job on every selected system,
// each job of each system in a process of its own when cfg.Self is set.
// A job that fails is recorded in the report (Failures) and the run goes
// on; the error returned is for what stops the whole run.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	sizes, pols := FullSizes, fullPolicies
	if cfg.Quick {
		sizes, pols = QuickSizes, quickPolicies
	}
	sel, err := sizes.Select(cfg.Only)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnknownName, err)
	}
	start := time.Now()
	root := cfg.Out
	if root == "" {
		if root, err = os.MkdirTemp("", "pf-bench-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(root)
	}
	cache, work := filepath.Join(root, "cache"), filepath.Join(root, "work")
	if err := mkdirEmpty(work); err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	rep := &Report{
		Command: cfg.Command,
		Started: start.UTC().Truncate(time.Second),
		Quick:   cfg.Quick,
		Machine: readMachine(work),
		Sizes:   sizes,
		Systems: sel.Systems,
	}
	for _, w := range sizes.Workloads() {
		if slices.Contains(sel.Jobs, w.Job) {
			rep.Workloads = append(rep.Workloads, w)
		}
	}
	display := progress.New(cfg.Progress)
	defer display.Close()
	prog := display.Text("pf-bench")

	data := map[string]string{}
	for _, job := range sel.Jobs {
		for _, d := range sizes.datasetsFor(job) {
			prog.Status("writing the input %s (%s)", d.name, fmtBytes(d.bytes))
			path, err := d.ensure(filepath.Join(cache, "data"))
			if err != nil {
				return nil, err
			}
			data[d.name] = path
		}
	}

	var pfBin, pfMissing string
	if slices.ContainsFunc(sel.Jobs, needsPF) {
		pfBin = cfg.PF
		if pfBin == "" {
			prog.Status("building pf")
			pfBin, pfMissing = goBuild(ctx, filepath.Join(work, "bin"), "pf", "github.com/processfork/pf/cmd/pf")
		} else if _, err := exec.LookPath(pfBin); err != nil {
			pfBin, pfMissing = "", err.Error()
		}
	}

	var floorBin string
	if pfBin != "" && slices.ContainsFunc(sel.Jobs, isHistoryJob) {
		floorBin, _ = goBuild(ctx, filepath.Join(work, "bin"), "startfloor", "github.com/processfork/pf/internal/bench/startfloor")
	}

	type task struct{ job, system string }
	var tasks []task
	for _, job := range sel.Jobs {
		for _, sys := range sel.Systems {
			if applies(sys, job) {
				tasks = append(tasks, task{job, sys})
			}
		}
	}
	for i, t := range tasks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		spec := jobSpec{
			Job: t.job, System: t.system, Sizes: sizes, Policy: pols,
			Work: filepath.Join(work, t.job+"-"+t.system), Cache: cache, Data: data,
			MeasureRSS: len(cfg.Self) > 0,
			PF:         pfBin, PFMissing: pfMissing, StartFloor: floorBin,
		}
		if err := mkdirEmpty(spec.Work); err != nil {
			return nil, err
		}
		label := fmt.Sprintf("[%d/%d] %s · %s", i+1, len(tasks), t.job, t.system)
		prog.Status("%s", label)
		report := func(msg string) { prog.Status("%s · %s", label, msg) }
		var rows []Row
		taskStart := time.Now()
		if len(cfg.Self) > 0 {
			rows, err = runChild(ctx, cfg.Self, spec, report)
		} else {
			rows, err = runJob(ctx, spec, report)
		}
		os.RemoveAll(spec.Work)
		rep.Tasks = append(rep.Tasks, TaskTime{Job: t.job, System: t.system, Seconds: time.Since(taskStart).Seconds()})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			msg := fmt.Sprintf("%s on %s: %v", t.job, t.system, err)
			rep.Failures = append(rep.Failures, msg)
			for _, w := range rep.Workloads {
				if w.Job == t.job && !slices.ContainsFunc(rows, func(r Row) bool { return r.Workload == w.ID }) {
					rows = append(rows, Row{Workload: w.ID, System: t.system, Error: err.Error()})
				}
			}
		}
		rep.Rows = append(rep.Rows, rows...)
	}
	rep.Seconds = time.Since(start).Seconds()
	display.Close()

	if cfg.Out != "" {
		if err := rep.writeFiles(cfg.Out, "bench"); err != nil {
			return rep, err
		}
	}
	if cfg.Markdown != "" {
		if err := rep.writeMarkdownFile(cfg.Markdown); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// needsPF says whether a job runs the pf binary: the checkpoints jobs, the
// history jobs, which time `pf log` as a process, and the registry job.
func needsPF(job string) bool {
	return isCheckpointsJob(job) || isHistoryJob(job) || job == jobRegistry
}

// The README's install command: a static binary (no dynamic loader or
// libc threads to start) without urfave/cli's man-page generator (whose
// package initialization every process would pay) starts on about a
// fifth less CPU than a default build.
var (
	buildEnv   = []string{"CGO_ENABLED=0"}
	buildFlags = []string{"-tags", "urfave_cli_no_docs"}
)

func isHistoryJob(job string) bool { return strings.HasPrefix(job, jobHistory+"-") }

// goBuild builds the command pkg (cmd/pf, or the start-up floor) into
// dir/name with the go command, from the module in the working
// directory, and returns its path, or why it could not. It builds as the
// README installs pf (buildEnv, buildFlags), so that the figures are
// those of the binary users run.
func goBuild(ctx context.Context, dir, name, pkg string) (path, why string) {
	path = filepath.Join(dir, name)
	if runtime.GOOS == "windows" {
		path += ".exe"
	}
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"build"}, buildFlags...), "-o", path, pkg)...)
	cmd.Env = append(os.Environ(), buildEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Sprintf("go build %s failed (%v: %s); name one with --pf", pkg, err, oneLine(strings.TrimSpace(string(out))))
	}
	return path, ""
}

// applies says whether a system has rows in a job: git is measured with
// fast-import but for the large blob, which git hash-object stores as
// git add would (and which it ingests too, as the issue asks), and the
// limits have nothing to say about history queries.
func applies(system, job string) bool {
	if isCheckpointsJob(job) {
		return system == sysPF || system == sysPFServe || system == sysShadowGit || system == sysLimits
	}
	if job == jobRegistry {
		return system == sysPF || system == sysOras || system == sysLimits
	}
	switch system {
	case sysOras:
		return false
	case sysShadowGit, sysPFServe:
		return false
	case sysGitLoose:
		return strings.HasPrefix(job, "ingest-") || job == jobBigBlob
	case sysGit:
		return job != jobBigBlob
	case sysLimits:
		return !strings.HasPrefix(job, jobHistory)
	}
	return true
}

// progressPrefix starts the lines a child writes on its standard error
// to say what it is doing; other lines are its error messages.
const progressPrefix = "\x00progress "

// runChild runs one job in a process of its own.
func runChild(ctx context.Context, self []string, spec jobSpec, progress func(string)) ([]Row, error) {
	in, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self[0], self[1:]...)
	cmd.Stdin = bytes.NewReader(in)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var (
		messages []string
		wg       sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(errPipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if msg, ok := strings.CutPrefix(sc.Text(), progressPrefix); ok {
				progress(msg)
			} else if len(messages) < 20 {
				messages = append(messages, sc.Text())
			}
		}
	}()
	wg.Wait()
	err = cmd.Wait()
	var rows []Row
	jerr := json.Unmarshal(stdout.Bytes(), &rows)
	switch {
	case err != nil && len(messages) > 0:
		return rows, fmt.Errorf("%s", strings.TrimPrefix(strings.Join(messages, "; "), "pf: "))
	case err != nil:
		return rows, err
	case jerr != nil:
		return nil, fmt.Errorf("the job's process answered %q: %w", truncate(stdout.String(), 200), jerr)
	}
	return rows, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ChildMain runs the job whose spec is on stdin and writes its rows as
// JSON to stdout; progress goes to stderr. It is what Config.Self runs.
func ChildMain(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	var spec jobSpec
	if err := json.NewDecoder(stdin).Decode(&spec); err != nil {
		return fmt.Errorf("read the job: %w", err)
	}
	var mu sync.Mutex
	progress := func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stderr, "%s%s\n", progressPrefix, msg)
	}
	rows, err := runJob(ctx, spec, progress)
	if len(rows) > 0 || err == nil {
		// Rows measured before a failure are kept.
		if eerr := json.NewEncoder(stdout).Encode(rows); err == nil {
			err = eerr
		}
	}
	return err
}
