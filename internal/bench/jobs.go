package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/processfork/pf/internal/fixture"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/processfork/pf/internal/migrations"
	"github.com/processfork/pf/manifest"
)

// jobSpec is what one job of one system needs; a child process gets it as
// JSON on its standard input.
type jobSpec struct {
	Job    string   `json:"job"`
	System string   `json:"system"`
	Sizes  Sizes    `json:"sizes"`
	Policy policies `json:"policy"`
	// Work is an empty directory for the job's stores, removed after it.
	Work string `json:"work"`
	// Cache holds the history stores between runs.
	Cache string `json:"cache"`
	// Data maps dataset names to the files holding them (see datasets).
	Data map[string]string `json:"data"`
	// MeasureRSS asks for peak resident memory: only a process of its
	// own measures anything meaningful.
	MeasureRSS bool `json:"measure_rss"`
	// PF is the pf binary the checkpoints jobs run; PFMissing says why
	// there is none.
	PF        string `json:"pf,omitempty"`
	PFMissing string `json:"pf_missing,omitempty"`
	// StartFloor is a Go program that only exits (startfloor), timed
	// beside `pf log` as the runtime's own start-up; empty when it could
	// not be built.
	StartFloor string `json:"start_floor,omitempty"`
}

// Row is one measured row of the report: a workload on one system.
type Row struct {
	Workload string `json:"workload"`
	System   string `json:"system"`
	// Seconds are the measured rounds, in the order run.
	Seconds []float64 `json:"seconds,omitempty"`
	// Stored is bytes on disk (allocated blocks), as the workload's
	// StoredMeans says; StoredApparent the files' sizes.
	Stored         *int64 `json:"stored,omitempty"`
	StoredApparent *int64 `json:"stored_apparent,omitempty"`
	// PeakRSS is how far the resident size rose during the workload;
	// PeakAnon, its anonymous part (without mapped files). A system that
	// runs processes of its own (git) adds their peak to both.
	PeakRSS  *int64 `json:"peak_rss,omitempty"`
	PeakAnon *int64 `json:"peak_rss_anon,omitempty"`
	// BlobFetches counts the blobs a registry sent in one round (the
	// registry job's pull of an image whose blobs are all present).
	BlobFetches *int `json:"blob_fetches,omitempty"`
	// Load is the load average when the job started: the machines are
	// shared, and rows measured under load are slower.
	Load string `json:"load,omitempty"`
	Note string `json:"note,omitempty"`
	// Skipped says why the system did not run this workload; Error why
	// it failed.
	Skipped string `json:"skipped,omitempty"`
	Error   string `json:"error,omitempty"`
}

// job is a running job: its spec and helpers.
type job struct {
	jobSpec
	ctx      context.Context
	progress func(string)
	clock    int64
	scratchN int
}

// now hands out creation times that never repeat within the job, a
// millisecond apart, so that every snapshot is a new image.
func (j *job) now() time.Time {
	j.clock++
	return time.Date(2026, 5, 5, 14, 0, 0, 0, time.UTC).Add(time.Duration(j.clock) * time.Millisecond)
}

// scratch returns a new empty directory under Work.
func (j *job) scratch(name string) (string, error) {
	j.scratchN++
	dir := filepath.Join(j.Work, fmt.Sprintf("%s-%d", name, j.scratchN))
	return dir, mkdirEmpty(dir)
}

func int64p(v int64) *int64 { return &v }

// measureStored returns a row's stored fields for what dir holds.
func measureStored(dir string) (disk, apparent *int64, err error) {
	d, a, err := diskUsage(dir)
	if err != nil {
		return nil, nil, err
	}
	return int64p(d), int64p(a), nil
}

// rounds runs round as p says: a warm-up unless p says otherwise, then
// measured rounds until p.Rounds or p.Budget. round returns the time it
// measured (its setup excluded).
func (j *job) rounds(what string, p Policy, round func() (time.Duration, error)) ([]float64, error) {
	var out []float64
	var spent time.Duration
	if p.Warmup {
		j.progress(what + ": warm-up")
		d, err := round()
		if err != nil {
			return nil, err
		}
		if d >= p.Long {
			out, spent = append(out, d.Seconds()), d
		}
	}
	for len(out) < max(1, p.Rounds) {
		if len(out) > 0 && spent+spent/time.Duration(len(out)) > p.Budget {
			break
		}
		j.progress(fmt.Sprintf("%s: round %d", what, len(out)+1))
		d, err := round()
		if err != nil {
			return out, err
		}
		out, spent = append(out, d.Seconds()), spent+d
		if err := j.ctx.Err(); err != nil {
			return out, err
		}
	}
	return out, nil
}

// run runs the job and returns its rows.
func (j *job) run(sys system) ([]Row, error) {
	switch {
	case j.Job == jobFixture:
		return j.fixture(sys)
	case j.Job == jobBigBlob:
		return j.bigBlob(sys)
	}
	if ij, ok := j.Sizes.ingest(j.Job); ok {
		return j.ingest(sys, ij)
	}
	for _, n := range j.Sizes.History {
		if j.Job == historyJob(n) {
			return j.history(sys, n)
		}
	}
	return nil, fmt.Errorf("no job %q", j.Job)
}

// failed fills in a row's outcome from err: skipped for a workload the
// system cannot do, failed otherwise.
func failed(r Row, err error) Row {
	if isUnsupported(err) {
		r.Skipped = err.Error()
	} else {
		r.Error = err.Error()
	}
	return r
}

// withStore opens a store in a new scratch directory, runs fn, closes it.
func (j *job) withStore(sys system, dir string, fn func(st store) error) error {
	st, err := sys.Open(j.ctx, dir)
	if err != nil {
		return err
	}
	err = fn(st)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return err
}

// fixture runs the three fixture workloads: cold, warm and forks.
func (j *job) fixture(sys system) ([]Row, error) {
	f := fixture.New(fixture.Options{Seed: 1})
	cold := Row{Workload: wlFixtureCold, System: sys.Name()}
	var err error
	cold.Seconds, err = j.rounds("cold snapshot", j.Policy.Snapshot, func() (time.Duration, error) {
		dir, err := j.scratch("cold")
		if err != nil {
			return 0, err
		}
		var d time.Duration
		err = j.withStore(sys, dir, func(st store) error {
			syncAll()
			start := time.Now()
			_, err := st.Snapshot(j.ctx, f, j.now(), nil)
			d = time.Since(start)
			return err
		})
		if err == nil {
			cold.Stored, cold.StoredApparent, err = measureStored(dir)
		}
		os.RemoveAll(dir)
		return d, err
	})
	if err != nil {
		if isUnsupported(err) {
			return []Row{failed(cold, err), failed(Row{Workload: wlFixtureWarm, System: sys.Name()}, err),
				failed(Row{Workload: wlFixtureForks, System: sys.Name()}, err)}, nil
		}
		return nil, err
	}
	warm, err := j.fixtureWarm(sys, f)
	if err != nil {
		return nil, err
	}
	forks, err := j.fixtureForks(sys, f)
	if err != nil {
		return nil, err
	}
	return []Row{cold, warm, forks}, nil
}

// warmStoredOver is how many warm snapshots the stored figure is
// measured over: the timed rounds, then untimed ones up to it. A store
// file grows by whole pages (4 KiB in bbolt and SQLite), and its first
// commits grow it by more than later ones, which reuse the pages commits
// before them freed: over the 16 or so timed rounds, pf's figure was more
// than twice what each snapshot adds once the store is in use (2.3 KiB
// against 1.0 KiB over 512), so the figure is taken where it settles,
// for every system alike.
const warmStoredOver = 256

// fixtureWarm snapshots f again and again into a store that holds it,
// each image the child of the one before; stored is what each adds, over
// warmStoredOver snapshots.
func (j *job) fixtureWarm(sys system, f *fixture.Fixture) (Row, error) {
	row := Row{Workload: wlFixtureWarm, System: sys.Name()}
	dir, err := j.scratch("warm")
	if err != nil {
		return row, err
	}
	defer os.RemoveAll(dir)
	var prev manifest.Digest
	if err := j.withStore(sys, dir, func(st store) error {
		prev, err = st.Snapshot(j.ctx, f, j.now(), nil)
		return err
	}); err != nil {
		return row, err
	}
	before, beforeApparent, err := diskUsage(dir)
	if err != nil {
		return row, err
	}
	taken := 0
	err = j.withStore(sys, dir, func(st store) error {
		row.Seconds, err = j.rounds("warm snapshot", j.Policy.Snapshot, func() (time.Duration, error) {
			syncAll()
			start := time.Now()
			id, err := st.Snapshot(j.ctx, f, j.now(), []manifest.Digest{prev})
			d := time.Since(start)
			prev = id
			taken++
			return d, err
		})
		for err == nil && taken < warmStoredOver {
			prev, err = st.Snapshot(j.ctx, f, j.now(), []manifest.Digest{prev})
			taken++
		}
		return err
	})
	if err != nil {
		return row, err
	}
	after, afterApparent, err := diskUsage(dir)
	if err != nil {
		return row, err
	}
	row.Stored = int64p((after - before) / int64(taken))
	row.StoredApparent = int64p((afterApparent - beforeApparent) / int64(taken))
	return row, nil
}

// fixtureForks times Forks forks of a base image, each differing from it
// in one page and one file in eight, in a store holding only the base;
// stored is what the forks add.
func (j *job) fixtureForks(sys system, f *fixture.Fixture) (Row, error) {
	row := Row{Workload: wlFixtureForks, System: sys.Name()}
	forks := fixtureForks(j.Sizes.Forks)
	var err error
	row.Seconds, err = j.rounds("forks", j.Policy.Forks, func() (time.Duration, error) {
		dir, err := j.scratch("forks")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(dir)
		var d time.Duration
		err = j.withStore(sys, dir, func(st store) error {
			base, err := st.Snapshot(j.ctx, f, j.now(), nil)
			if err != nil {
				return err
			}
			before, beforeApparent, err := diskUsage(dir)
			if err != nil {
				return err
			}
			syncAll()
			start := time.Now()
			for _, fk := range forks {
				if _, err := st.Snapshot(j.ctx, fk, j.now(), []manifest.Digest{base}); err != nil {
					return err
				}
			}
			d = time.Since(start)
			if err := st.Close(); err != nil {
				return err
			}
			after, afterApparent, err := diskUsage(dir)
			row.Stored, row.StoredApparent = int64p(after-before), int64p(afterApparent-beforeApparent)
			return err
		})
		return d, err
	})
	return row, err
}

// fixtureForks are the n forks of the fixture the forks workload
// snapshots: each differs from it in one page and one file in eight.
func fixtureForks(n int) []*fixture.Fixture {
	forks := make([]*fixture.Fixture, n)
	for k := range forks {
		forks[k] = fixture.New(fixture.Options{Seed: 1, Fork: k + 1, Differ: 1.0 / 8})
	}
	return forks
}

// blobsOf cuts a dataset into count blobs of size.
func blobsOf(data []byte, count, size int) ([][]byte, error) {
	if len(data) < count*size {
		return nil, fmt.Errorf("dataset of %d bytes is too short for %d blobs of %d", len(data), count, size)
	}
	blobs := make([][]byte, count)
	for i := range blobs {
		blobs[i] = data[i*size : (i+1)*size : (i+1)*size]
	}
	return blobs, nil
}

// stager is a store that must prepare its input outside the timer.
type stager interface{ Stage(blobs [][]byte) error }

// largeStager is a store that must prepare a large blob outside the timer.
type largeStager interface{ StageLarge(b []byte) error }

// rssReporter is a store that runs processes whose memory counts too.
type rssReporter interface{ peakRSS() int64 }

// ingest puts the job's blobs into a new store per round, then reads them
// back in random order from the last round's store.
func (j *job) ingest(sys system, ij ingestJob) ([]Row, error) {
	in := Row{Workload: ingestWorkload(ij.name), System: sys.Name()}
	rd := Row{Workload: readWorkload(ij.name), System: sys.Name()}
	blobs, unmap, err := j.ingestBlobs(ij)
	if err != nil {
		return nil, err
	}
	defer unmap()
	var (
		dir    string
		keys   []string
		others int64 // peak memory of the system's own processes
	)
	meter := j.startRSS()
	in.Seconds, err = j.rounds("ingest", j.Policy.Ingest, func() (time.Duration, error) {
		if dir != "" {
			os.RemoveAll(dir)
		}
		var err error
		if dir, err = j.scratch("ingest"); err != nil {
			return 0, err
		}
		var d time.Duration
		err = j.withStore(sys, dir, func(st store) error {
			if s, ok := st.(stager); ok {
				if err := s.Stage(blobs); err != nil {
					return err
				}
			}
			syncAll()
			start := time.Now()
			k, err := st.Ingest(j.ctx, blobs)
			d, keys = time.Since(start), k
			if r, ok := st.(rssReporter); ok {
				others = max(others, r.peakRSS())
			}
			return err
		})
		return d, err
	})
	if err != nil {
		if isUnsupported(err) {
			return []Row{failed(in, err), failed(rd, err)}, nil
		}
		return nil, err
	}
	in.PeakRSS, in.PeakAnon = j.peakRSS(meter, others)
	if in.Stored, in.StoredApparent, err = measureStored(dir); err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	order := rand.New(rand.NewPCG(uint64(ij.count), 7)).Perm(len(keys))
	meter = j.startRSS()
	st, err := sys.Open(j.ctx, dir)
	if err != nil {
		return nil, err
	}
	rd.Seconds, err = j.rounds("random reads", j.Policy.Read, func() (time.Duration, error) {
		start := time.Now()
		for _, i := range order {
			b, err := st.Get(j.ctx, keys[i])
			if err != nil {
				return 0, fmt.Errorf("read blob %d of the %d its ingest stored: %w", i, len(keys), err)
			}
			if len(b) != ij.size {
				return 0, fmt.Errorf("read blob %d: %d bytes, want %d", i, len(b), ij.size)
			}
		}
		return time.Since(start), nil
	})
	if err == nil {
		// Outside the timer: every system returns the bytes it was given.
		for _, i := range order[:min(len(order), 64)] {
			b, gerr := st.Get(j.ctx, keys[i])
			if gerr == nil && !bytes.Equal(b, blobs[i]) {
				gerr = fmt.Errorf("read blob %d: the bytes differ from those stored", i)
			}
			if gerr != nil {
				err = gerr
				break
			}
		}
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// The ingest was measured; what failed is reading it back.
		return []Row{in, failed(rd, err)}, err
	}
	others = 0
	if r, ok := st.(rssReporter); ok {
		others = r.peakRSS()
	}
	rd.PeakRSS, rd.PeakAnon = j.peakRSS(meter, others)
	if c, ok := sys.(ingestCompactor); ok {
		if in.Note, err = j.compactIngest(c, dir, *in.Stored); err != nil {
			return nil, err
		}
		if in.Stored, in.StoredApparent, err = measureStored(dir); err != nil {
			return nil, err
		}
	}
	return []Row{in, rd}, nil
}

// compactIngest runs the system's compaction on the ingest store in dir,
// whose size is before, after its reads were measured (they read the
// store as the ingest left it), and returns the row's note.
func (j *job) compactIngest(c ingestCompactor, dir string, before int64) (string, error) {
	j.progress("compacting the store: " + c.Compaction())
	start := time.Now()
	if err := c.CompactIngest(j.ctx, dir); err != nil {
		return "", fmt.Errorf("compact the ingest store: %w", err)
	}
	took := time.Since(start).Seconds()
	syncAll()
	return fmt.Sprintf("stored bytes measured after %s (%s before; it ran %s)", c.Compaction(), fmtBytes(before), fmtDuration(took)), nil
}

// startRSS starts a meter of peak memory when the job measures it.
func (j *job) startRSS() *rssMeter {
	if !j.MeasureRSS {
		return nil
	}
	return startRSS()
}

// peakRSS stops meter and returns the row's peak memory figures, adding
// the peak of the system's own processes.
func (j *job) peakRSS(meter *rssMeter, others int64) (total, anon *int64) {
	t, a, ok := meter.peak()
	if !ok {
		return nil, nil
	}
	return int64p(t + others), int64p(a + others)
}

// historyDir is where the history store of h for sys is cached.
func (j *job) historyDir(sys system, h *history) string {
	name := sys.Name()
	switch name {
	case sysPF:
		// A newer schema makes a new store rather than reading an old one.
		name = fmt.Sprintf("pf-schema%d", migrations.Latest())
	case sysSQLite:
		// Since its summary columns.
		name = "sqlite-summaries"
	}
	return filepath.Join(j.Cache, historyKey(h.n), name)
}

// history times the newest-100 query on a store of n images, building
// the store first unless the cache holds it.
func (j *job) history(sys system, n int) ([]Row, error) {
	row := Row{Workload: historyWorkload(n), System: sys.Name()}
	hs, ok := sys.(historian)
	if !ok {
		return []Row{failed(row, unsupported("no history"))}, nil
	}
	j.progress("computing the images")
	h, err := newHistory(n, filepath.Join(j.Cache, historyKey(n), "ids"))
	if err != nil {
		return nil, err
	}
	dir := j.historyDir(sys, h)
	done := dir + ".complete" // holds how long the build took
	if b, err := os.ReadFile(done); err == nil {
		row.Note = "store cached from an earlier run"
		if secs, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64); err == nil {
			row.Note = fmt.Sprintf("store built in %s by an earlier run", fmtDuration(secs))
		}
	} else {
		j.progress(fmt.Sprintf("building the store of %s images", commas(n)))
		if err := os.Remove(dir + ".compacted"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err // the mark of a store no longer there
		}
		if err := mkdirEmpty(dir); err != nil {
			return nil, err
		}
		start := time.Now()
		if err := hs.BuildHistory(j.ctx, dir, h); err != nil {
			os.RemoveAll(dir)
			if isUnsupported(err) {
				return []Row{failed(row, err)}, nil
			}
			return nil, fmt.Errorf("build the history store: %w", err)
		}
		syncAll()
		secs := time.Since(start).Seconds()
		if err := os.WriteFile(done, []byte(strconv.FormatFloat(secs, 'f', 3, 64)+"\n"), 0o644); err != nil {
			return nil, err
		}
		row.Note = fmt.Sprintf("store built in %s", fmtDuration(secs))
	}
	if c, ok := hs.(historyCompactor); ok {
		note, err := j.compactHistory(c, dir)
		if err != nil {
			return nil, err
		}
		row.Note += ", " + note
	}
	q, err := hs.OpenHistory(j.ctx, dir)
	if err != nil {
		if isUnsupported(err) {
			return []Row{failed(row, err)}, nil
		}
		return nil, err
	}
	since := h.since()
	row.Seconds, err = j.rounds("query", j.Policy.Query, func() (time.Duration, error) {
		start := time.Now()
		got, err := q.Newest(j.ctx, since, historyLimit)
		d := time.Since(start)
		if err == nil {
			err = h.check(got, historyLimit)
		}
		return d, err
	})
	if cerr := q.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if row.Stored, row.StoredApparent, err = measureStored(dir); err != nil {
		return nil, err
	}
	if sys.Name() != sysPF {
		return []Row{row}, nil
	}
	proc, err := j.logProcess(n, pfPath(dir), since)
	return []Row{row, proc}, err
}

// compactHistory runs the system's compaction on its history store in
// dir, once: a cached store compacted by an earlier run is not compacted
// again. It returns the note that says so, with the store's size before.
func (j *job) compactHistory(c historyCompactor, dir string) (string, error) {
	done := dir + ".compacted" // holds the store's size before
	var before int64
	if b, err := os.ReadFile(done); err == nil {
		before, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return "", fmt.Errorf("%s: %w", done, err)
		}
	} else {
		if before, _, err = diskUsage(dir); err != nil {
			return "", err
		}
		j.progress("compacting the store: " + c.Compaction())
		if err := c.CompactHistory(j.ctx, dir); err != nil {
			return "", fmt.Errorf("compact the history store: %w", err)
		}
		syncAll()
		if err := os.WriteFile(done, []byte(strconv.FormatInt(before, 10)+"\n"), 0o644); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("measured after %s (%s before)", c.Compaction(), fmtBytes(before)), nil
}

// logProcess times `pf log -n 100` on a pf history store as a whole
// process, its start-up included, as a user at a terminal or an agent
// calling pf runs it; its output goes to /dev/null. Each round also
// times `pf --version` (pf's start-up, without a store) and a Go
// program that only exits (the runtime's floor), which the row's note
// gives as medians: the goal's verdict names the part of the time that
// is start-up, and the part no Go program avoids.
func (j *job) logProcess(n int, store string, since time.Time) (Row, error) {
	row := Row{Workload: processWorkload(n), System: sysPF}
	if j.PF == "" {
		row.Skipped = "no pf binary: " + j.PFMissing
		return row, nil
	}
	var version, floor []float64
	var err error
	row.Seconds, err = j.rounds("pf log", j.Policy.Query, func() (time.Duration, error) {
		d, err := runTimed(j.ctx, j.PF, "--version")
		if err != nil {
			return 0, err
		}
		version = append(version, d.Seconds())
		if j.StartFloor != "" {
			d, err := runTimed(j.ctx, j.StartFloor)
			if err != nil {
				return 0, err
			}
			floor = append(floor, d.Seconds())
		}
		return runTimed(j.ctx, j.PF, "--store", store, "log", "-n", strconv.Itoa(historyLimit),
			"--since", since.Format(time.RFC3339Nano))
	})
	// The warm-up's figures, when rounds left it out, go too.
	counted := func(s []float64) Row { return Row{Seconds: s[max(0, len(s)-len(row.Seconds)):]} }
	if len(row.Seconds) > 0 && len(version) > 0 {
		row.Note = "pf --version " + fmtDuration(counted(version).median())
		if len(floor) > 0 {
			row.Note += ", a Go program that only exits " + fmtDuration(counted(floor).median())
		}
	}
	return row, err
}

// runTimed runs a command to its end, output discarded, and returns how
// long it took.
func runTimed(ctx context.Context, name string, args ...string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("%s %s: %v: %s", filepath.Base(name), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return d, nil
}

// bigBlob stores one large blob into an empty store, then the same blob
// with 1% of its bytes changed in one run; stored is the store's size
// after the first and what the second added.
func (j *job) bigBlob(sys system) ([]Row, error) {
	put := Row{Workload: wlBigPut, System: sys.Name()}
	changed := Row{Workload: wlBigChanged, System: sys.Name()}
	a, unmap, err := mapFile(j.Data[datasetBig(j.Sizes.BigBlob)])
	if err != nil {
		return nil, err
	}
	defer unmap()
	dir, err := j.scratch("big")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	timed := func(blob []byte) (float64, error) {
		var d time.Duration
		err := j.withStore(sys, dir, func(st store) error {
			if s, ok := st.(largeStager); ok {
				if err := s.StageLarge(blob); err != nil {
					return err
				}
			}
			syncAll()
			start := time.Now()
			err := st.PutLarge(j.ctx, blob)
			d = time.Since(start)
			return err
		})
		return d.Seconds(), err
	}
	j.progress("storing the blob")
	secs, err := timed(a)
	if err != nil {
		if isUnsupported(err) {
			return []Row{failed(put, err), failed(changed, err)}, nil
		}
		put = failed(put, err)
		changed.Skipped = "the first put failed"
		return []Row{put, changed}, nil
	}
	put.Seconds = []float64{secs}
	if put.Stored, put.StoredApparent, err = measureStored(dir); err != nil {
		return nil, err
	}
	// The changed copy is made only now: a live heap of its size during
	// the first put would keep an in-process store's collector idle until
	// the heap doubled, so that every buffer the put allocates (bbolt's
	// copy of each value, at commit) were fresh memory to fault in, which
	// a pf process putting a file never pays.
	j.progress("preparing the changed copy")
	b := changedCopy(a)
	j.progress("storing it again with 1% changed")
	secs, err = timed(b)
	if err != nil {
		return []Row{put, failed(changed, err)}, nil
	}
	changed.Seconds = []float64{secs}
	after, afterApparent, err := diskUsage(dir)
	if err != nil {
		return nil, err
	}
	changed.Stored, changed.StoredApparent = int64p(after-*put.Stored), int64p(afterApparent-*put.StoredApparent)
	return []Row{put, changed}, nil
}

// changedCopy returns a copy of a with 1% of its bytes, in one run a
// third of the way in, replaced by other random bytes.
func changedCopy(a []byte) []byte {
	b := make([]byte, len(a))
	copy(b, a)
	off, n := bigChange(int64(len(a)))
	s := fixture.NewSplitMix64(0xc4a9ed)
	s.Fill(b[off : off+n])
	return b
}

// bigChange is where the changed run of the large blob is.
func bigChange(size int64) (off, n int64) { return size/3 + 7, size / 100 }

// runJob runs one job of one system.
func runJob(ctx context.Context, spec jobSpec, progress func(string)) ([]Row, error) {
	if progress == nil {
		progress = func(string) {}
	}
	j := &job{jobSpec: spec, ctx: ctx, progress: progress}
	load := loadAverage()
	if spec.Job == jobRegistry {
		rows, err := j.registry(spec.System)
		for i := range rows {
			rows[i].Load = load
		}
		return rows, err
	}
	if isCheckpointsJob(spec.Job) {
		var rows []Row
		var err error
		if spec.System == sysLimits {
			rows, err = j.ckptLimits()
		} else {
			rows, err = j.checkpoints(spec.System)
		}
		for i := range rows {
			rows[i].Load = load
		}
		return rows, err
	}
	if spec.System == sysLimits {
		rows, err := j.limits()
		for i := range rows {
			rows[i].Load = load
		}
		return rows, err
	}
	sys, err := systemNamed(spec.System)
	if err != nil {
		return nil, err
	}
	if err := sys.Check(); err != nil {
		var rows []Row
		for _, w := range spec.Sizes.Workloads() {
			if w.Job == spec.Job {
				rows = append(rows, failed(Row{Workload: w.ID, System: sys.Name()}, err))
			}
		}
		return rows, nil
	}
	rows, err := j.run(sys)
	for i := range rows {
		rows[i].Load = load
	}
	return rows, err
}

// ingestBlobs maps an ingest job's data set and cuts it into its blobs;
// unmap releases them.
func (j *job) ingestBlobs(ij ingestJob) (blobs [][]byte, unmap func() error, err error) {
	data, unmap, err := mapFile(j.Data[datasetOf(ij)])
	if err != nil {
		return nil, nil, err
	}
	if blobs, err = blobsOf(data, ij.count, ij.size); err != nil {
		unmap()
		return nil, nil, err
	}
	return blobs, unmap, nil
}
