package bench

import (
	"fmt"
	"github.com/processfork/pf/internal/fixture"
	"slices"
	"strings"
	"time"
)

// What pf-bench runs: jobs, each a group of workloads that share their
// setup (an ingest and the random reads of what it stored, say), run once
// per system in a process of its own so that its peak memory is its own.

// Job names, as --only takes them.
const (
	jobFixture      = "fixture"
	jobIngestRandom = "ingest-16k-random"
	jobIngestJSONL  = "ingest-16k-jsonl"
	jobIngestLarge  = "ingest-4m-random"
	jobHistory      = "history" // history-1k, history-10k, ...
	jobBigBlob      = "bigblob"
)

// Workload ids: one row of the report per workload and system.
const (
	wlFixtureCold  = "fixture-cold"
	wlFixtureWarm  = "fixture-warm"
	wlFixtureForks = "fixture-forks"
	wlBigPut       = "bigblob-put"
	wlBigChanged   = "bigblob-changed"
)

// Metrics: what a workload's headline figure is.
const (
	metricTime       = "time"       // time per round; lower is better
	metricThroughput = "throughput" // bytes per second; higher is better
	metricLatency    = "latency"    // time per operation; lower is better
	metricBytes      = "bytes"      // bytes stored or added; lower is better
)

// Workload describes one row kind of the report.
type Workload struct {
	ID     string `json:"id"`
	Job    string `json:"job"`
	Title  string `json:"title"`
	Metric string `json:"metric"`
	// Bytes and Ops are the work of one round: the bytes put or read and
	// the operations (snapshots, puts, reads, queries) that make it up.
	Bytes int64 `json:"bytes"`
	Ops   int   `json:"ops"`
	// StoredMeans says what the stored figure is: the store's size on
	// disk after the workload, or what the workload added to it.
	StoredMeans string `json:"stored_means,omitempty"`
	// Images is the number of images in the store, for history rows.
	Images int `json:"images,omitempty"`
	// Process marks a history row timed as a whole pf process.
	Process bool `json:"process,omitempty"`
	// BlobSize is the size of each blob, for ingest and read rows.
	BlobSize int64  `json:"blob_size,omitempty"`
	Data     string `json:"data,omitempty"` // random or jsonl
}

// Sizes are the dimensions of a run: the full run's or --quick's.
type Sizes struct {
	SmallBlobs int   `json:"small_blobs"` // blobs of SmallBlobSize per small ingest
	SmallSize  int   `json:"small_size"`
	LargeBlobs int   `json:"large_blobs"` // blobs of LargeSize per large ingest
	LargeSize  int   `json:"large_size"`
	History    []int `json:"history"`  // images in each history store
	BigBlob    int64 `json:"big_blob"` // bytes of the blob changed by 1%
	Forks      int   `json:"forks"`
	// Checkpoints are the workspaces of the checkpoints jobs.
	Checkpoints []CkptTree `json:"checkpoints"`
	// Registry are the images the registry job pushes and pulls.
	Registry RegistryImages `json:"registry"`
}

// FullSizes are the issue's.
var FullSizes = Sizes{
	SmallBlobs: 10_000, SmallSize: 16 << 10,
	LargeBlobs: 100, LargeSize: 4 << 20,
	History: []int{1_000, 10_000, 100_000, 1_000_000},
	BigBlob: 1 << 30,
	Forks:   12,
	Checkpoints: []CkptTree{
		{Job: jobCkptGoroot, NodeFiles: 3000, Turns: 20, Back: 10},
		{Job: jobCkptSmall, Files: 100_000, Depth: 20, Turns: 20, Back: 10},
		{Job: jobCkptGrowing, Grow: 2 << 30, Turns: 3, Back: 3},
	},
	Registry: RegistryImages{Blobs: 64, BlobSize: 16 << 20, SmallBlobs: 4096, SmallSize: 16 << 10},
}

// QuickSizes fit the whole run in about a minute on two cores.
var QuickSizes = Sizes{
	SmallBlobs: 500, SmallSize: 16 << 10,
	LargeBlobs: 4, LargeSize: 4 << 20,
	History: []int{1_000, 10_000},
	BigBlob: 16 << 20,
	Forks:   12,
	Checkpoints: []CkptTree{
		{Job: jobCkptGoroot, GorootDir: "go/types", NodeFiles: 100, Turns: 3, Back: 2},
		{Job: jobCkptSmall, Files: 500, Depth: 8, Turns: 3, Back: 2},
		{Job: jobCkptGrowing, Grow: 16 << 20, Turns: 2, Back: 2},
	},
	Registry: RegistryImages{Blobs: 16, BlobSize: 2 << 20, SmallBlobs: 256, SmallSize: 16 << 10},
}

// Policy says how many rounds a workload gets.
type Policy struct {
	// Warmup runs one round first that is not counted, unless it takes
	// longer than Long: a round that long is not sensitive to what a
	// warm-up warms, and counting it saves the time of one more.
	Warmup bool          `json:"warmup"`
	Long   time.Duration `json:"long"`
	// Rounds caps the measured rounds; Budget stops them earlier once the
	// measured ones have taken that long (at least one is always run).
	Rounds int           `json:"rounds"`
	Budget time.Duration `json:"budget"`
}

// policies are per kind of round: quick ones get many, slow ones few.
type policies struct {
	Snapshot Policy `json:"snapshot"` // one snapshot of the fixture
	Forks    Policy `json:"forks"`    // 12 forks
	Ingest   Policy `json:"ingest"`   // a whole ingest into a new store
	Read     Policy `json:"read"`     // reading every blob back once
	Query    Policy `json:"query"`    // one history query
	// The checkpoints jobs: a first checkpoint into a new store; one
	// quick step (an unchanged checkpoint, a status); one restore.
	CkptFirst   Policy `json:"ckpt_first"`
	CkptStep    Policy `json:"ckpt_step"`
	CkptRestore Policy `json:"ckpt_restore"`
	// Transfer is one push or pull of an image (the registry job).
	Transfer Policy `json:"transfer"`
}

var fullPolicies = policies{
	Snapshot: Policy{Warmup: true, Long: 2 * time.Second, Rounds: 15, Budget: 5 * time.Second},
	Forks:    Policy{Warmup: true, Long: 2 * time.Second, Rounds: 5, Budget: 8 * time.Second},
	Ingest:   Policy{Warmup: true, Long: 2 * time.Second, Rounds: 3, Budget: 10 * time.Second},
	Read:     Policy{Warmup: true, Long: 2 * time.Second, Rounds: 5, Budget: 8 * time.Second},
	Query:    Policy{Warmup: true, Long: 2 * time.Second, Rounds: 21, Budget: 10 * time.Second},
	// git's first checkpoint of the 2 GiB tree takes a minute: one round.
	CkptFirst:   Policy{Warmup: false, Long: time.Second, Rounds: 3, Budget: 30 * time.Second},
	CkptStep:    Policy{Warmup: true, Long: 2 * time.Second, Rounds: 11, Budget: 10 * time.Second},
	CkptRestore: Policy{Warmup: true, Long: 2 * time.Second, Rounds: 7, Budget: 20 * time.Second},
	// The first push warms the registry's storage as much as anything.
	Transfer: Policy{Warmup: true, Long: 2 * time.Second, Rounds: 3, Budget: 30 * time.Second},
}

var quickPolicies = policies{
	Snapshot:    Policy{Warmup: true, Long: time.Second, Rounds: 5, Budget: time.Second},
	Forks:       Policy{Warmup: false, Long: time.Second, Rounds: 2, Budget: time.Second},
	Ingest:      Policy{Warmup: false, Long: time.Second, Rounds: 2, Budget: time.Second},
	Read:        Policy{Warmup: true, Long: time.Second, Rounds: 3, Budget: time.Second},
	Query:       Policy{Warmup: true, Long: time.Second, Rounds: 5, Budget: time.Second},
	CkptFirst:   Policy{Warmup: false, Long: time.Second, Rounds: 1, Budget: time.Second},
	CkptStep:    Policy{Warmup: true, Long: time.Second, Rounds: 3, Budget: time.Second},
	CkptRestore: Policy{Warmup: false, Long: time.Second, Rounds: 2, Budget: time.Second},
	Transfer:    Policy{Warmup: false, Long: time.Second, Rounds: 2, Budget: time.Second},
}

// historyJob is the job name of the history store of n images.
func historyJob(n int) string { return jobHistory + "-" + countName(n) }

func historyWorkload(n int) string { return historyJob(n) }

// processWorkload is the id of `pf log` run as a process on the history
// store of n images.
func processWorkload(n int) string { return "pflog-" + countName(n) }

func ingestWorkload(job string) string { return job }

// readWorkload is the id of the reads that follow an ingest job.
func readWorkload(job string) string { return "read" + strings.TrimPrefix(job, "ingest") }

// countName writes 1000 as 1k and 1000000 as 1m.
func countName(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dm", n/1_000_000)
	case n >= 1_000 && n%1_000 == 0:
		return fmt.Sprintf("%dk", n/1_000)
	}
	return fmt.Sprint(n)
}

// ingestJob describes the data of an ingest job.
type ingestJob struct {
	name  string
	data  string // kindRandom or kindJSONL
	count int
	size  int
}

func (sz Sizes) ingestJobs() []ingestJob {
	return []ingestJob{
		{jobIngestRandom, kindRandom, sz.SmallBlobs, sz.SmallSize},
		{jobIngestJSONL, kindJSONL, sz.SmallBlobs, sz.SmallSize},
		{jobIngestLarge, kindRandom, sz.LargeBlobs, sz.LargeSize},
	}
}

func (sz Sizes) ingest(job string) (ingestJob, bool) {
	for _, j := range sz.ingestJobs() {
		if j.name == job {
			return j, true
		}
	}
	return ingestJob{}, false
}

// Jobs lists the jobs of a run in the order they run.
func (sz Sizes) Jobs() []string {
	jobs := []string{jobFixture}
	for _, j := range sz.ingestJobs() {
		jobs = append(jobs, j.name)
	}
	for _, n := range sz.History {
		jobs = append(jobs, historyJob(n))
	}
	jobs = append(jobs, jobBigBlob)
	for _, t := range sz.Checkpoints {
		jobs = append(jobs, t.Job)
	}
	return append(jobs, jobRegistry)
}

// Workloads lists every workload of a run, in report order.
func (sz Sizes) Workloads() []Workload {
	f := fixture.New(fixture.Options{Seed: 1})
	var out []Workload
	out = append(out,
		Workload{ID: wlFixtureCold, Job: jobFixture, Title: "fixture: cold snapshot into an empty store",
			Metric: metricTime, Bytes: f.Bytes(), Ops: 1, StoredMeans: "store size"},
		Workload{ID: wlFixtureWarm, Job: jobFixture, Title: "fixture: warm snapshot (every blob stored)",
			Metric: metricTime, Bytes: f.Bytes(), Ops: 1, StoredMeans: fmt.Sprintf("added per snapshot, over %d", warmStoredOver)},
		Workload{ID: wlFixtureForks, Job: jobFixture,
			Title:  fmt.Sprintf("fixture: %d forks, 1 page in 8 differing", sz.Forks),
			Metric: metricTime, Bytes: int64(sz.Forks) * f.Bytes(), Ops: sz.Forks, StoredMeans: fmt.Sprintf("added by %d forks", sz.Forks)},
	)
	for _, j := range sz.ingestJobs() {
		out = append(out, Workload{ID: ingestWorkload(j.name), Job: j.name,
			Title:  fmt.Sprintf("ingest %s blobs of %s, %s", commas(j.count), sizeName(int64(j.size)), dataName(j.data)),
			Metric: metricThroughput, Bytes: int64(j.count) * int64(j.size), Ops: j.count, StoredMeans: "store size",
			BlobSize: int64(j.size), Data: j.data})
	}
	for _, j := range sz.ingestJobs() {
		out = append(out, Workload{ID: readWorkload(j.name), Job: j.name,
			Title:  fmt.Sprintf("read those %s blobs of %s, %s, in random order", commas(j.count), sizeName(int64(j.size)), dataName(j.data)),
			Metric: metricLatency, Bytes: int64(j.count) * int64(j.size), Ops: j.count,
			BlobSize: int64(j.size), Data: j.data})
	}
	for _, n := range sz.History {
		out = append(out, Workload{ID: historyWorkload(n), Job: historyJob(n),
			Title:  fmt.Sprintf("history: newest %d since a time, store of %s images", historyLimit, commas(n)),
			Metric: metricLatency, Ops: 1, Images: n, StoredMeans: "store size"})
	}
	for _, n := range sz.History {
		out = append(out, Workload{ID: processWorkload(n), Job: historyJob(n),
			Title:  fmt.Sprintf("history: `pf log -n %d` as a whole process, store of %s images", historyLimit, commas(n)),
			Metric: metricLatency, Ops: 1, Images: n, Process: true})
	}
	out = append(out,
		Workload{ID: wlBigPut, Job: jobBigBlob, Title: fmt.Sprintf("one blob of %s, random, into an empty store", sizeName(sz.BigBlob)),
			Metric: metricThroughput, Bytes: sz.BigBlob, Ops: 1, StoredMeans: "store size", BlobSize: sz.BigBlob, Data: kindRandom},
		Workload{ID: wlBigChanged, Job: jobBigBlob, Title: "that blob with 1% of its bytes changed in one run, stored again",
			Metric: metricBytes, Bytes: sz.BigBlob, Ops: 1, StoredMeans: "added"},
	)
	for _, t := range sz.Checkpoints {
		out = append(out, ckptWorkloads(t)...)
	}
	return append(out, registryWorkloads(sz.Registry)...)
}

func dataName(kind string) string {
	if kind == kindJSONL {
		return "JSON lines"
	}
	return kind
}

// Systems, as --only takes them.
const (
	sysPF        = "pf"
	sysReference = "reference"
	sysGit       = "git"             // git fast-import
	sysGitLoose  = "git-hash-object" // git hash-object -w --stdin-paths
	// sysShadowGit (checkpoints.go) is a shadow repository of a workspace,
	// sysPFServe pf's commands forwarded to a running pf serve.
	sysSQLite = "sqlite"
	sysLimits = "limits"
)

// AllSystems in the order of the report.
var AllSystems = []string{sysPF, sysPFServe, sysReference, sysGit, sysGitLoose, sysShadowGit, sysSQLite, sysOras, sysLimits}

// Selection is what --only chose.
type Selection struct {
	Jobs    []string
	Systems []string
}

// Select reads --only: job names (fixture, ingest-16k-random, ...),
// groups of them (ingest, reads, history), and system names. Jobs not
// named run only if no job is named; likewise systems. pf always runs,
// since every ratio is pf's over a peer's.
func (sz Sizes) Select(only []string) (Selection, error) {
	all := sz.Jobs()
	var sel Selection
	for _, name := range only {
		name = strings.ToLower(strings.TrimSpace(name))
		switch {
		case name == "":
		case name == "git":
			sel.Systems = append(sel.Systems, sysGit, sysGitLoose, sysShadowGit)
		case slices.Contains(AllSystems, name):
			sel.Systems = append(sel.Systems, name)
		case slices.Contains(all, name):
			sel.Jobs = append(sel.Jobs, name)
		case name == "ingest" || name == "reads" || name == "read":
			for _, j := range sz.ingestJobs() {
				sel.Jobs = append(sel.Jobs, j.name)
			}
		case name == jobHistory:
			for _, n := range sz.History {
				sel.Jobs = append(sel.Jobs, historyJob(n))
			}
		case name == jobCheckpoints:
			for _, t := range sz.Checkpoints {
				sel.Jobs = append(sel.Jobs, t.Job)
			}
		default:
			return Selection{}, fmt.Errorf("--only: unknown name %q: the jobs are %s (or ingest, history, checkpoints), the systems %s",
				name, strings.Join(all, ", "), strings.Join(AllSystems, ", "))
		}
	}
	if len(sel.Jobs) == 0 {
		sel.Jobs = all
	} else {
		sel.Jobs = ordered(all, sel.Jobs)
	}
	if len(sel.Systems) == 0 {
		sel.Systems = AllSystems
	} else {
		sel.Systems = ordered(AllSystems, append(sel.Systems, sysPF))
	}
	return sel, nil
}

// ordered returns the members of all that chosen names, in all's order.
func ordered(all, chosen []string) []string {
	var out []string
	for _, a := range all {
		if slices.Contains(chosen, a) {
			out = append(out, a)
		}
	}
	return out
}
