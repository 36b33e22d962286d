package bench

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/processfork/pf/internal/outfile"
)

// Report is the outcome of a run: what ran where, and every row.
type Report struct {
	Command   string     `json:"command"`
	Started   time.Time  `json:"started"`
	Seconds   float64    `json:"seconds"`
	Quick     bool       `json:"quick"`
	Machine   Machine    `json:"machine"`
	Sizes     Sizes      `json:"sizes"`
	Systems   []string   `json:"systems"`
	Workloads []Workload `json:"workloads"`
	Rows      []Row      `json:"rows"`
	// Failures are the jobs that failed: the harness's errors, not a
	// system's refusal of a workload (which is a row's Error).
	Failures []string `json:"failures,omitempty"`
	// Tasks are how long each job took on each system, inputs and stores
	// built included: where to trim when a run grows too long.
	Tasks []TaskTime `json:"tasks,omitempty"`
}

// TaskTime is one job on one system and the seconds it took.
type TaskTime struct {
	Job     string  `json:"job"`
	System  string  `json:"system"`
	Seconds float64 `json:"seconds"`
}

// slowestTasks names the n tasks that took longest, with their times.
func (rep *Report) slowestTasks(n int) string {
	ts := slices.Clone(rep.Tasks)
	slices.SortStableFunc(ts, func(a, b TaskTime) int { return cmp.Compare(b.Seconds, a.Seconds) })
	var parts []string
	for _, t := range ts[:min(n, len(ts))] {
		parts = append(parts, fmt.Sprintf("%s on %s %s", t.Job, systemName(t.System), fmtDuration(t.Seconds)))
	}
	return strings.Join(parts, ", ")
}

// median is the median of the measured rounds, or NaN without any.
func (r Row) median() float64 {
	if len(r.Seconds) == 0 {
		return math.NaN()
	}
	s := slices.Clone(r.Seconds)
	sort.Float64s(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func (r Row) ok() bool { return r.Error == "" && r.Skipped == "" }

// row finds the row of a workload and system.
func (rep *Report) row(workload, system string) (Row, bool) {
	for _, r := range rep.Rows {
		if r.Workload == workload && r.System == system {
			return r, true
		}
	}
	return Row{}, false
}

func (rep *Report) workload(id string) (Workload, bool) {
	for _, w := range rep.Workloads {
		if w.ID == id {
			return w, true
		}
	}
	return Workload{}, false
}

// rowsOf lists a workload's rows in the order they ran.
func (rep *Report) rowsOf(id string) []Row {
	var out []Row
	for _, r := range rep.Rows {
		if r.Workload == id {
			out = append(out, r)
		}
	}
	return out
}

// systemName is how a system is shown.
func systemName(id string) string {
	switch id {
	case sysReference:
		return "reference design"
	case sysGit:
		return "git fast-import"
	case sysGitLoose:
		return "git hash-object"
	case sysShadowGit:
		return "shadow git repository"
	case sysPFServe:
		return "pf through pf serve"
	case sysSQLite:
		return "SQLite"
	case sysOras:
		return "oras-go alone"
	}
	return id
}

// speedRatio is pf's speed over r's on the same work: above 1, pf is
// faster.
func speedRatio(pf, r Row) float64 {
	a, b := pf.median(), r.median()
	if !pf.ok() || !r.ok() || math.IsNaN(a) || math.IsNaN(b) || a <= 0 {
		return math.NaN()
	}
	return b / a
}

// bytesRatio is pf's stored bytes over r's: below 1, pf stores less.
func bytesRatio(pf, r Row) float64 {
	if !pf.ok() || !r.ok() || pf.Stored == nil || r.Stored == nil || *r.Stored <= 0 {
		return math.NaN()
	}
	return float64(*pf.Stored) / float64(*r.Stored)
}

// rate is a row's second figure: its throughput, or its time per
// operation for latency workloads of more than one operation.
func rate(w Workload, r Row) string {
	m := r.median()
	if math.IsNaN(m) || m <= 0 {
		return ""
	}
	switch w.Metric {
	case metricTime, metricThroughput:
		if w.Bytes > 0 {
			return fmtRate(float64(w.Bytes) / m)
		}
	case metricLatency:
		if w.Ops > 1 {
			return fmtDuration(m/float64(w.Ops)) + "/op"
		}
	}
	return ""
}

func optBytes(p *int64) string {
	if p == nil {
		return ""
	}
	return fmtBytes(*p)
}

// rssCell is the peak resident size and, when it differs much, the
// anonymous part of it.
func rssCell(r Row) string {
	if r.PeakRSS == nil {
		return ""
	}
	s := fmtBytes(*r.PeakRSS)
	if r.PeakAnon != nil && *r.PeakAnon < *r.PeakRSS*9/10 {
		s += " (" + fmtBytes(*r.PeakAnon) + " anon)"
	}
	return s
}

func optRatio(r float64) string {
	if math.IsNaN(r) {
		return ""
	}
	return fmtRatio(r)
}

// cells are the columns of one row, from the system on.
func (rep *Report) cells(w Workload, r Row) []string {
	pf, _ := rep.row(w.ID, sysPF)
	c := []string{systemName(r.System), "", "", optBytes(r.Stored), rssCell(r), "", "", r.Note}
	switch {
	case r.Skipped != "":
		c[7] = "skipped: " + r.Skipped
		return c
	case r.Error != "":
		c[7] = "failed: " + oneLine(r.Error)
		return c
	}
	if m := r.median(); !math.IsNaN(m) {
		c[1] = fmtDuration(m)
	}
	c[2] = rate(w, r)
	if r.System != sysPF && r.System != sysPFServe {
		c[5], c[6] = optRatio(speedRatio(pf, r)), optRatio(bytesRatio(pf, r))
	}
	return c
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if utf8.RuneCountInString(s) > 160 {
		s = string([]rune(s)[:157]) + "..."
	}
	return s
}

var tableHeader = []string{"system", "median", "rate", "stored", "peak RSS", "speed pf/x", "bytes pf/x", "note"}

// WriteText writes the report for a terminal: a table of every row,
// grouped by workload, then the goals.
func (rep *Report) WriteText(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n\n", rep.summary())
	var rows [][]string
	var groups []int // index in rows where each workload's title goes
	var titles []string
	for _, wl := range rep.Workloads {
		rs := rep.rowsOf(wl.ID)
		if len(rs) == 0 {
			continue
		}
		groups = append(groups, len(rows))
		titles = append(titles, wl.Title)
		for _, r := range rs {
			rows = append(rows, rep.cells(wl, r))
		}
	}
	widths := make([]int, len(tableHeader))
	for _, row := range append([][]string{tableHeader}, rows...) {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string) {
		var l strings.Builder
		l.WriteString("  ")
		for i, c := range cells {
			l.WriteString(c)
			if i < len(cells)-1 {
				pad := widths[i] - utf8.RuneCountInString(c) + 2
				l.WriteString(strings.Repeat(" ", pad))
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteByte('\n')
	}
	line(tableHeader)
	for i, row := range rows {
		if k := slices.Index(groups, i); k >= 0 {
			fmt.Fprintf(&b, "%s\n", titles[k])
		}
		line(row)
	}
	b.WriteString("\nspeed pf/x: pf's speed over the row's on the same work (above 1: pf is faster); bytes pf/x: pf's bytes over the row's (below 1: pf stores less).\n")
	if goals := rep.goals(); len(goals) > 0 {
		b.WriteString("\nGoals:\n")
		for _, g := range goals {
			fmt.Fprintf(&b, "  %-7s %s: %s\n", g.verdict, g.goal, g.measured)
			if g.why != "" {
				fmt.Fprintf(&b, "          %s\n", g.why)
			}
		}
	}
	if slow := rep.slower(); len(slow) > 0 {
		b.WriteString("\nAnother system was faster than pf on:\n")
		for _, s := range slow {
			fmt.Fprintf(&b, "  %s\n", s)
		}
	}
	if hl := rep.readmeHeadline(); len(hl) > 1 {
		b.WriteString("\nREADME headline (Markdown, the rows of README.md's table):\n\n")
		mdRow(&b, hl[0]...)
		mdRule(&b, len(hl[0]))
		for _, r := range hl[1:] {
			mdRow(&b, r...)
		}
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(&b, "\nfailed: %s\n", f)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// summary is the report's first line.
func (rep *Report) summary() string {
	m := rep.Machine
	s := fmt.Sprintf("%s: %d rows in %s on %d cores", rep.commandOrDefault(), len(rep.Rows), fmtDuration(rep.Seconds), m.Cores)
	if m.CPU != "" {
		s += " (" + m.CPU + ")"
	}
	if m.Load != "" {
		s += ", load " + m.Load + " at the start"
	}
	if len(rep.Tasks) > 0 {
		s += "; longest: " + rep.slowestTasks(3)
	}
	return s
}

func (rep *Report) commandOrDefault() string {
	if rep.Command != "" {
		return rep.Command
	}
	return "pf-bench"
}

// loadRange is the lowest and highest 1-minute load average the jobs
// started under.
func (rep *Report) loadRange() (lo, hi float64, ok bool) {
	for _, r := range rep.Rows {
		f := strings.Fields(r.Load)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		if !ok {
			lo, hi, ok = v, v, true
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	return lo, hi, ok
}

// JSON is the report as indented JSON.
func (rep *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(rep, "", "  ")
	return append(b, '\n'), err
}

// writeFiles writes base.md, base.json and plot.svg into dir.
func (rep *Report) writeFiles(dir, base string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := rep.JSON()
	if err != nil {
		return err
	}
	for name, content := range map[string][]byte{
		base + ".md":   rep.Markdown("plot.svg"),
		base + ".json": js,
		"plot.svg":     rep.SVG(),
	} {
		if err := outfile.WriteFile(filepath.Join(dir, name), content, nil); err != nil {
			return err
		}
	}
	return nil
}

// writeMarkdownFile writes the Markdown report to path and its plot
// beside it, named after it, each replaced whole (see package outfile).
func (rep *Report) writeMarkdownFile(path string) error {
	svg := strings.TrimSuffix(path, filepath.Ext(path)) + ".svg"
	if err := outfile.WriteFile(svg, rep.SVG(), nil); err != nil {
		return err
	}
	return outfile.WriteFile(path, rep.Markdown(filepath.Base(svg)), nil)
}

// mdEscape keeps a cell's | from ending it.
func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func mdRow(b *bytes.Buffer, cells ...string) {
	b.WriteString("|")
	for _, c := range cells {
		b.WriteString(" " + mdEscape(c) + " |")
	}
	b.WriteString("\n")
}

func mdRule(b *bytes.Buffer, n int) {
	b.WriteString("|" + strings.Repeat("---|", n) + "\n")
}

// Markdown is the report as a Markdown page; plot is the address of the
// SVG plot from the page.
func (rep *Report) Markdown(plot string) []byte {
	var b bytes.Buffer
	m := rep.Machine
	b.WriteString("# pf-bench: pf beside the reference design, git, SQLite and the machine's limits\n\n")
	fmt.Fprintf(&b, "Generated by `%s` on %s; the run took %s.", rep.commandOrDefault(), rep.Started.Format("2006-01-02 at 15:04 UTC"), fmtDuration(rep.Seconds))
	if rep.Quick {
		b.WriteString(" This was a `--quick` run: smaller stores, fewer rounds; its figures are a smoke test, not a measurement.")
	}
	b.WriteString("\n\n")
	fmt.Fprintf(&b, "- **Machine:** %d cores", m.Cores)
	if m.CPU != "" {
		fmt.Fprintf(&b, ", %s", m.CPU)
	}
	if m.Memory > 0 {
		fmt.Fprintf(&b, ", %s of memory", fmtBytes(m.Memory))
	}
	fmt.Fprintf(&b, ", %s/%s", m.OS, m.Arch)
	if m.Kernel != "" {
		fmt.Fprintf(&b, " %s", m.Kernel)
	}
	b.WriteString("\n")
	if m.Disk != "" {
		fmt.Fprintf(&b, "- **Disk** (df): %s\n", m.Disk)
	}
	if m.Load != "" {
		fmt.Fprintf(&b, "- **Load average** (1, 5, 15 minutes) at the start: %s", m.Load)
		if lo, hi, ok := rep.loadRange(); ok {
			fmt.Fprintf(&b, "; the 1-minute average at the start of each job ranged from %.2f to %.2f", lo, hi)
		}
		fmt.Fprintf(&b, ". The machine is shared: other work running at the same time slows the rows measured then.\n")
	}
	if len(rep.Tasks) > 0 {
		fmt.Fprintf(&b, "- **Longest jobs:** %s\n", rep.slowestTasks(6))
	}
	fmt.Fprintf(&b, "- **Software:** %s", m.Go)
	if m.Git != "" {
		fmt.Fprintf(&b, ", git %s", m.Git)
	}
	if m.SQLite != "" {
		fmt.Fprintf(&b, ", SQLite %s (modernc.org/sqlite)", m.SQLite)
	}
	b.WriteString("\n\n")
	b.WriteString("Each figure is the median of the rounds run after a warm-up (n in the table of every row; a round long enough not to need one counts without it), in this one run: " +
		"the machines are shared and noisy, so compare the ratios, not absolutes across runs. " +
		"*speed pf/x* is pf's speed over the other row's on the same work (above 1: pf is faster); " +
		"*bytes pf/x* is pf's stored bytes over the other's (below 1: pf stores less). " +
		"Stored bytes are space on disk, allocated blocks as `du` counts them, after the store is closed; an ingest's after its system's own compaction where it has one for a store of blobs alone (`pf compact`, SQLite's `VACUUM`), once its reads are measured, the note giving its size before; a warm snapshot's over 256 snapshots, the timed ones and untimed ones after them, where a store file's growth by whole pages settles.\n\n")

	if hl := rep.headline(); len(hl) > 1 {
		b.WriteString("## Headline\n\n")
		mdRow(&b, hl[0]...)
		mdRule(&b, len(hl[0]))
		for _, r := range hl[1:] {
			mdRow(&b, r...)
		}
		b.WriteString("\n")
	}
	if goals := rep.goals(); len(goals) > 0 {
		b.WriteString("## Goals\n\n")
		mdRow(&b, "goal", "measured", "verdict")
		mdRule(&b, 3)
		for _, g := range goals {
			mdRow(&b, g.goal, g.measured, g.verdict)
		}
		var short []goal
		for _, g := range goals {
			if g.verdict == verdictMissed && g.why != "" {
				short = append(short, g)
			}
		}
		if len(short) > 0 {
			b.WriteString("\nWhere pf falls short, from the figures of this run:\n\n")
			for _, g := range short {
				fmt.Fprintf(&b, "- *%s*: %s\n", g.goal, g.why)
			}
		}
		b.WriteString("\n")
	}
	if slow := rep.slower(); len(slow) > 0 {
		b.WriteString("Beyond the goals, the workloads where another system was faster than pf in this run:\n\n")
		for _, s := range slow {
			fmt.Fprintf(&b, "- %s\n", s)
		}
		b.WriteString("\n")
	}
	if plot != "" {
		fmt.Fprintf(&b, "## Plot\n\n![Throughput by blob size, and history latency by store size](%s)\n\n", plot)
	}
	b.WriteString("## Every row\n\n")
	head := append([]string{"workload"}, tableHeader...)
	head[2] = "median (n)"
	mdRow(&b, head...)
	mdRule(&b, len(head))
	for _, wl := range rep.Workloads {
		for i, r := range rep.rowsOf(wl.ID) {
			c := rep.cells(wl, r)
			if len(r.Seconds) > 0 && c[1] != "" {
				c[1] += fmt.Sprintf(" (%d)", len(r.Seconds))
			}
			title := ""
			if i == 0 {
				title = wl.Title
				if wl.StoredMeans != "" {
					title += " — stored: " + wl.StoredMeans
				}
			}
			mdRow(&b, append([]string{title}, c...)...)
		}
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(&b, "\n**Failed:** %s\n", f)
	}
	b.WriteString("\n" + methodNotes)
	return b.Bytes()
}

// methodNotes say how each system is run; the figures above are all
// generated.
const methodNotes = `## How each system runs

- **pf**: the public API of package pf, as a program embedding it calls it: ` + "`Store.Snapshot`" + ` for the fixture, one batch (` + "`Blobs().NewBatch`" + `) filled by ` + "`PutAll`" + ` (4 MiB of blobs at a time) and one commit for an ingest, ` + "`Blobs().Get`" + ` (which verifies every read) for reads, ` + "`Blobs().Put`" + ` streaming for the large blob, ` + "`Store.Summaries`" + ` for history (the summaries the time index holds). History stores are built with ` + "`Store.Commit`" + ` from 256 goroutines, one per agent, so that group commit batches them.
- **reference design**: pf-core 1.0.x's directory store as docs/format.md lays it out, written in Go in bench/peer_reference.go: one zstd frame per blob at the strongest level Go's zstd has (standing in for level 19, which is far slower on incompressible data, so the reference's speed is flattered), written to a temporary file, fsynced and renamed; a plain copy of each manifest in images/; history by reading and parsing every file there (the summaries come from the parsed manifests). A snapshot's five captures run concurrently, each putting its blobs in turn; an ingest puts blobs one after another; a read decodes the file and re-hashes the bytes, as the reference's ` + "`FsBlobStore::get`" + ` does.
- **git**: a fresh bare repository, git's default configuration. *git fast-import* takes a snapshot as one commit under refs/images/<id> (the blobs in its tree, the manifest as its message, the creation time as its date, the parents' refs as parents) and an ingest as one stream of blobs; it fsyncs its pack. *git hash-object* (` + "`-w`" + `) ingests files written beforehand, outside the timer (` + "`--stdin-paths`" + `), and stores the large blob from a file as ` + "`git add`" + ` would: loose objects, which git's defaults do not fsync, so it is measured less durable than the others. Reads through one ` + "`git cat-file --batch`" + `; history through ` + "`git log --branches --since`" + `, one branch per agent, each summary parsed from the message. Object ids are SHA-1.
- **SQLite**: modernc.org/sqlite (SQLite in pure Go), WAL mode, ` + "`synchronous=FULL`" + `, a table of blobs keyed by hex digest and a table of manifests with an index on their creation time and the summary a listing shows (agent kind, version, fingerprint, parents) in columns of its own, as pf keeps it beside its time index, each snapshot or ingest one transaction; blobs stored as they come. SQLite refuses a value over 10^9 bytes, so it cannot hold the 1 GiB blob in one row.
- **limits**: on the same bytes, SHA-256 on every core, zstd at pf's level on every core, and one sequential write of all the bytes with one fsync; for reads, one blob after another, each byte copied once into one reused buffer and hashed once: a blob the store cuts into chunks hashed an equal share on each core, as pf proves such a blob by its chunks' digests on every core, a blob it keeps whole as one SHA-256 stream on one core; and, for blobs the store keeps compressed (JSON lines), each decoded by zstd into a new buffer and hashed; for the changed blob, the changed bytes themselves. For large blobs (the 4 MiB ingest, the 1 GiB blob, the registry's 1 GiB pull), also FastCDC's cut as pf cuts with a SHA-256 of each chunk and of each blob, on every core (*cut + SHA-256 ×2*), and bbolt, opened with pf's options, writing the bytes as values of 1 MiB, each in a bucket of its own under a random 32-byte key as the store keeps a chunk, in one transaction and in commits of 8 MiB as pf's puts write them early; and *cut + SHA-256 ×2 + bbolt*, all of that at once, the put with nothing but what the format asks: each blob cut, hashed whole on a goroutine of its own, and each chunk hashed (the first one's digest taken from the blob's hash, as pf does) and written as soon as it is, from the blob's bytes in memory, under its digest in a bucket of its own, in the same 8 MiB commits, committed one after another while the cutting and hashing go on; a blob a core at once; no copy of a chunk, no compression check, no index. For the registry's pull, *receive + cut + SHA-256 ×2* receives the same image from the same registry as ` + "`pf pull`" + ` does (pf's registry source and zstd decoder), 3 blobs at once as oras.Copy, and does that cut and those hashes on each blob, checking it against its digest, on every core; it stores nothing. *receive + bbolt, 8 MiB commits* receives the image the same way and writes its bytes as they arrive into a new bbolt file with pf's options, as the store keeps a chunk (values of 1 MiB, each in a bucket of its own under a random 32-byte key), in transactions of 8 MiB committed one after another while the blobs go on arriving: no hash, no cut, no check. *receive + cut + SHA-256 ×2 + bbolt* does both at once: each blob received, then cut, hashed and written as *cut + SHA-256 ×2 + bbolt* does it (the same code) from the blob's buffer, and checked against its digest; no copy of a chunk, no compression check, no image commit. For the random ingests and the 1 GiB blob, *limit: least bbolt file* is stored bytes alone: the least a store built as pf is (one bbolt file, values under their 32-byte SHA-256, a blob over 1 MiB cut as pf cuts it) takes: a new bbolt file with pf's options holding each distinct value raw, side by side in one bbolt value (a pack as large as bbolt takes a value; pf's packs of 4 MiB would leave a page's tail in every two or three), an index of each value's digest to its pack, offset and length, and each cut blob's list of chunk digests, every bucket filled whole in key order, every value read back and checked; no format byte, counter, members list or schema. For the fixture, *limit: SHA-256 + bbolt* is each snapshot as a store built as pf is must at least do it: every blob hashed on every core, then one commit of a bbolt file with pf's options that appends the blobs not stored yet, raw, and the manifest (what is stored known from a map in memory: no index, no compression, no check).
- **Peak RSS** (ingest and reads): each system's job runs in a process of its own; the figure is how far its resident size rose above where it stood after loading the input (mapped from a file, outside the Go heap), plus the peak of any git process it ran.
- **checkpoints**: a coding agent's checkpoints of the user's workspace, every command a whole process as the agent spawns it, timed from start to exit. *pf* is the pf binary: ` + "`pf init`" + ` (not timed), ` + "`pf snapshot --fs-root`" + ` per checkpoint, ` + "`pf status`" + `, ` + "`pf restore IMAGE --to`" + `; its store is its file, sized after the turns once ` + "`pf gc`" + ` and ` + "`pf compact`" + ` have run (compact writes the values again at zstd's strongest level, or against a dictionary it trains on the store's small values), as git's is after ` + "`git gc`" + `. *pf through pf serve* runs the same pf processes with ` + "`pf serve`" + ` running on its store, started after ` + "`pf init`" + `: each forwards its command line to the server, which watches the workspace (inotify) and reads only the directories that changed since its last snapshot. The *shadow git repository* is a repository of its own whose ` + "`core.worktree`" + ` is the workspace, git's defaults otherwise: ` + "`git add -A`" + ` then ` + "`git commit --allow-empty`" + ` per checkpoint, ` + "`git status --porcelain`" + `, ` + "`git reset --hard`" + ` then ` + "`git clean -fd`" + ` to restore; its size is after ` + "`git gc`" + `. Both get the same workspace, written before the first checkpoint: a copy of ` + "`$GOROOT/src`" + ` with an ignored node_modules/ (named in .gitignore), generated small text files, or a log file that grows by 1% at every turn beside 100 small files. A turn changes 10 files (one of them new; in the growing tree, the log is one); the unchanged checkpoints follow the turns; status runs with one more turn's changes in place; restore goes back the given number of turns and is undone, then a checkpoint is taken, neither timed, before the next round: each timed restore follows a checkpoint, as in an agent's loop. *limit: walk* lists every directory and reads the stat of every entry, outside node_modules/, in one goroutine: what a checkpoint that looks at the files cannot avoid; *limit: pf start-up* is the same pf binary run as ` + "`pf --version`" + `, which opens no store: what every pf process costs before it does anything. *limit: replace files* writes the files that differ between the workspace and the checkpoint the restore goes back to, and removes those it lacks, as a restore must for each file to be whole, old or new, after a kill or a power loss (the directory opened without following a link, a temporary file there written, given its mode and renamed over the file), from bytes in memory, on a pool of workers as pf's, with nothing else to do (Linux): what a restore that changes those files cannot avoid; it runs on the workspace of *pf through pf serve*, right after its restore rounds, the server stopped, so that it writes the same files in the same copy of the tree as the restore it bounds (ext4 places a copy's inodes its own way: the same writes took up to three times as long in another copy). *limit: read + SHA-256* reads the workspace as any first checkpoint must at least, as cheaply as this machine does it, with nothing stored (Linux), on the tree as each system's first checkpoint finds it (just written, its files in the page cache), each round after a sync: every directory outside node_modules/ opened from its open parent without following a link, its stat taken and listed; every file opened the same way, its stat taken from the open file, read whole into a reused buffer (a file of 1 MiB or more mapped instead, which spares the copy), one SHA-256 of its bytes, closed; every symbolic link read, never followed; on max(4, 2 × cores) goroutines, as pf's pools. *limit: read + SHA-256 + zstd* does the same and compresses each file as a put would, with the store's rule and an encoder set up as the store's (zstd at pf's level, the fastest; files of 2 KiB or more that do not look random; a file over 1 MiB in pieces of 1 MiB, as a put compresses each chunk), the compressed bytes thrown away: what a first checkpoint into a store that compresses as pf's does must at least do (kept raw, GOROOT/src would take three times the bytes, more than git's objects). *limit: read + SHA-256 + zstd + bbolt* does the same and also stores what it makes, as a store that compresses as pf's does and keeps its bytes in a bbolt file must at least: each compressed piece (a piece zstd saves less than one part in 16 of, or a file a put keeps raw, as its raw bytes) a value of its own under a sequence number, or side by side in a pack if it is under 256 KiB, in one new bbolt file opened with pf's options (made beforehand, not timed), in commits of 8 MiB as a put writes early, each fsync'd, one in flight while the workers fill the next; the last commit also holds one index entry per distinct file, keyed by its SHA-256, naming where its pieces lie: no chunking, no second hash, no value format, no pack members list, no counts, no provisional marks, no stat cache, no tree. Where the tree holds a file over 1 MiB (the growing tree's log), *limit: read + cut + SHA-256 ×2 + zstd + bbolt* does the same but cuts each such file into content-defined chunks as a put does (pf's chunker, on a goroutine that does nothing else), hashes the whole file (SHA-256) on another from the start, and hashes, compresses and stores each chunk in place of the pieces of 1 MiB on every core while the cut goes on: the work pf's format asks so that a later checkpoint stores only the chunks that changed; the chunks are still stored under sequence numbers, not under their digests; a miss is weighed against it only where it ran in less time than pf's checkpoint. Where a put keeps every file raw (the 100,000 small files, each under 2 KiB), *limit: read + SHA-256 + bbolt* reads and hashes as *read + SHA-256* does and stores each file's bytes as a store built as pf is must at least: copied side by side into packs of 4 MiB (each worker filling its own), then, in one transaction of a new bbolt file opened with pf's options (made beforehand, not timed), each pack a value under its number, a file over 256 KiB a value of its own, and one index entry per distinct file, keyed by its SHA-256 and put in key order into leaves filled whole, naming its pack, offset and length; one commit: no value format, no compression check, no members list, no counts, no stat cache, no tree. Writing those bytes once more into one file with one fdatasync is no floor: a store that compresses writes fewer bytes (the growing tree's log lines compress to about a third).
- **registry**: pf push and pf pull, whole pf processes timed from start to exit, beside *oras-go alone*: ` + "`oras.Copy`" + ` of the same images between the OCI image layout ` + "`pf export --oci-layout`" + ` writes and the registry, in the job's process. The registry is CNCF distribution's (v3.1.2, filesystem storage, plain http on 127.0.0.1), one per system; every push goes to a new repository, every pull into a new store (` + "`pf init`" + `, not timed) or a new layout. The images are random blobs (one of large blobs, one of many small ones) written by ` + "`Store.Snapshot`" + ` before the job. The job is skipped when there is no registry binary: ` + "`$PF_TEST_REGISTRY`" + `, or the one .ci/run builds into the user's cache directory (pf-test/registry-v3.1.2). A pull of an image whose blobs are all present counts the blobs the registry sent (its access log).
- **History stores** hold the same manifests in every system (256 agents, images a second apart, each the child of its agent's previous one, all naming the same dozen small blobs); the query asks for the newest 100 since the middle image, as ` + "`pf log`" + ` lists them: each image's id, creation time, agent and parents, every answer checked field by field. The stores are built once and kept under ` + "`--out`" + `'s cache/ between runs; the reference design's is its images/ directory only, which is all its history reads. Each store is measured, and queried, after its system's own compaction, once, as the checkpoints' stores are: ` + "`pf compact`" + ` (commits leave a bbolt page about two thirds full, keyed by image id in random order; the copy fills them), ` + "`git gc`" + ` (which git fast-import's documentation advises after an import; it also writes the commit graph git log reads), SQLite's ` + "`VACUUM`" + `; the reference design has none. The note gives each store's size before.
`
