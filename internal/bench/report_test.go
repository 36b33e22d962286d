package bench

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// sampleReport is a report with made-up figures of every kind: rows that
// meet and miss goals, a skipped and a failed row, peak memory.
func sampleReport() *Report {
	sz := FullSizes
	rep := &Report{
		Command: "pf-bench --out bench/out --markdown BENCHMARKS.md",
		Started: time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC),
		Seconds: 731.5,
		Machine: Machine{OS: "linux", Arch: "amd64", Cores: 2, CPU: "AMD EPYC (SHA-NI)", Memory: 24 << 30,
			Kernel: "6.1.0", Disk: "/dev/vda ext4, 252G (79G free), mounted on /", Load: "0.52 0.41 0.30",
			Go: "go1.26.8", Git: "2.39.5", SQLite: "3.49.1"},
		Sizes:     sz,
		Systems:   AllSystems,
		Workloads: sz.Workloads(),
	}
	row := func(wl, sys string, secs []float64, stored int64, rss int64) Row {
		r := Row{Workload: wl, System: sys, Seconds: secs}
		if stored >= 0 {
			r.Stored, r.StoredApparent = int64p(stored), int64p(stored-stored/10)
		}
		if rss > 0 {
			r.PeakRSS, r.PeakAnon = int64p(rss), int64p(rss/4)
		}
		return r
	}
	ms := func(v ...float64) []float64 {
		for i := range v {
			v[i] /= 1000
		}
		return v
	}
	rep.Rows = []Row{
		row(wlFixtureCold, sysPF, ms(4.1, 4.3, 3.9), 1_900_000, 0),
		row(wlFixtureCold, sysReference, ms(61, 64, 59), 2_400_000, 0),
		row(wlFixtureCold, sysGit, ms(105, 99, 120), 1_500_000, 0),
		row(wlFixtureCold, sysSQLite, ms(9.2, 9.4, 9.0), 1_440_000, 0),
		row(wlFixtureCold, limitSHA256, ms(0.8, 0.8), -1, 0),
		row(wlFixtureCold, limitWrite, ms(2.5, 2.6), -1, 0),
		row(wlFixtureWarm, sysPF, ms(2.1, 2.0), 3400, 0),
		row(wlFixtureWarm, sysReference, ms(6.0, 6.2), 11_000, 0),
		row(wlFixtureWarm, sysSQLite, ms(1.5, 1.6), 2_000, 0),
		row(wlFixtureForks, sysPF, ms(60, 62), 2_900_000, 0),
		row(wlFixtureForks, sysReference, ms(700, 720), 3_300_000, 0),
		row(ingestWorkload(jobIngestRandom), sysPF, []float64{0.9, 0.95, 0.92}, 207_000_000, 260<<20),
		row(ingestWorkload(jobIngestRandom), sysReference, []float64{37.2}, 205_000_000, 160<<20),
		row(ingestWorkload(jobIngestRandom), sysGit, []float64{13.0}, 165_000_000, 170<<20),
		row(ingestWorkload(jobIngestRandom), sysGitLoose, []float64{11.0}, 205_000_000, 170<<20),
		row(ingestWorkload(jobIngestRandom), sysSQLite, []float64{1.7, 1.6}, 170_000_000, 13<<20),
		row(ingestWorkload(jobIngestRandom), limitSHA256, []float64{0.28}, -1, 0),
		row(ingestWorkload(jobIngestRandom), limitWrite, []float64{0.26}, -1, 0),
		row(readWorkload(jobIngestRandom), sysPF, []float64{0.7, 0.72}, -1, 190<<20),
		row(readWorkload(jobIngestRandom), sysSQLite, []float64{0.78}, -1, 12<<20),
		row(readWorkload(jobIngestLarge), sysPF, ms(380, 390), -1, 30<<20),
		row(readWorkload(jobIngestLarge), sysReference, ms(700), -1, 10<<20),
		row(readWorkload(jobIngestLarge), limitHashCopy, ms(300, 310), -1, 0),
		row(historyWorkload(1_000), sysPF, ms(3.1, 3.0), 1_700_000, 0),
		row(historyWorkload(1_000), sysSQLite, ms(0.6, 0.7), 1_400_000, 0),
		row(processWorkload(1_000), sysPF, ms(8.0, 8.5), -1, 0),
		row(processWorkload(1_000_000), sysPF, ms(11, 12), -1, 0),
		row(historyWorkload(1_000), sysReference, ms(62), 4_000_000, 0),
		row(historyWorkload(100_000), sysPF, ms(3.4, 3.3), 150_000_000, 0),
		row(historyWorkload(100_000), sysReference, ms(9800), 400_000_000, 0),
		row(historyWorkload(1_000_000), sysPF, ms(3.6, 3.9), 1_500_000_000, 0),
		row(historyWorkload(1_000_000), sysReference, []float64{98}, 4_000_000_000, 0),
		row(wlBigPut, sysPF, []float64{5.1}, 1_075_000_000, 0),
		row(wlBigPut, sysReference, []float64{9.8}, 1_073_800_000, 0),
		row(wlBigChanged, sysPF, []float64{3.2}, 13_500_000, 0),
		row(wlBigChanged, sysReference, []float64{9.7}, 1_073_800_000, 0),
		{Workload: wlBigChanged, System: limitChanged, Stored: int64p(10_737_418), StoredApparent: int64p(10_737_418)},
		row(ckptWorkload(jobCkptGoroot, stepFirst), sysPF, []float64{0.61, 0.58}, 40_000_000, 90<<20),
		row(ckptWorkload(jobCkptGoroot, stepFirst), sysShadowGit, []float64{6.5, 6.7}, 77_000_000, 60<<20),
		func() Row {
			r := row(ckptWorkload(jobCkptGoroot, stepFirst), limitReadHash, ms(110, 120), -1, 0)
			r.Note = "11,479 files, 1,324 dirs, 122 MiB read, 0 links; 4 goroutines"
			return r
		}(),
		row(ckptWorkload(jobCkptGoroot, stepFirst), limitStart, ms(33, 35), -1, 0),
		row(ckptWorkload(jobCkptGoroot, stepTurn), sysPF, ms(40, 42, 39), -1, 40<<20),
		row(ckptWorkload(jobCkptGoroot, stepTurn), sysShadowGit, ms(330, 320, 340), -1, 30<<20),
		row(ckptWorkload(jobCkptGoroot, stepUnchanged), sysPF, ms(95, 97), -1, 40<<20),
		row(ckptWorkload(jobCkptGoroot, stepUnchanged), sysShadowGit, ms(200, 190), -1, 30<<20),
		row(ckptWorkload(jobCkptGoroot, stepUnchanged), limitWalk, ms(60, 61), -1, 0),
		row(ckptWorkload(jobCkptGoroot, stepUnchanged), limitStart, ms(33, 35), -1, 0),
		row(ckptWorkload(jobCkptGoroot, stepUnchanged), sysPFServe, ms(45, 47), -1, 20<<20),
		row(ckptWorkload(jobCkptGoroot, stepTurn), sysPFServe, ms(60, 62, 59), -1, 20<<20),
		row(ckptWorkload(jobCkptGoroot, stepStatus), sysPFServe, ms(40, 41), -1, 20<<20),
		row(ckptWorkload(jobCkptGoroot, stepStatus), sysPF, ms(25, 24), -1, 30<<20),
		row(ckptWorkload(jobCkptGoroot, stepStatus), sysShadowGit, ms(90, 92), -1, 20<<20),
		row(ckptWorkload(jobCkptGoroot, stepRestore), sysPF, ms(150, 160), -1, 50<<20),
		row(ckptWorkload(jobCkptGoroot, stepRestore), sysShadowGit, ms(600, 610), -1, 40<<20),
		row(ckptWorkload(jobCkptGoroot, stepRestore), limitStart, ms(33, 35), -1, 0),
		func() Row {
			r := row(ckptWorkload(jobCkptGoroot, stepRestore), limitReplace, ms(90, 95), -1, 0)
			r.Note = "90 files written, 10 removed"
			return r
		}(),
		row(ckptWorkload(jobCkptGoroot, stepStored), sysPF, nil, 40_000_000, 0),
		row(ckptWorkload(jobCkptGoroot, stepStored), sysShadowGit, nil, 33_000_000, 0),
		row(ckptWorkload(jobCkptGrowing, stepFirst), sysPF, []float64{9.5}, 700_000_000, 90<<20),
		{Workload: ckptWorkload(jobCkptGrowing, stepStatus), System: sysPF, Skipped: "this pf has no status command"},
		row(ingestWorkload(jobIngestLarge), sysPF, ms(690, 710), 420_000_000, 90<<20),
		row(ingestWorkload(jobIngestLarge), limitSHA256, ms(118), -1, 0),
		row(ingestWorkload(jobIngestLarge), limitZstd, ms(32), -1, 0),
		row(ingestWorkload(jobIngestLarge), limitWrite, ms(215), -1, 0),
		row(ingestWorkload(jobIngestLarge), limitCutHash, ms(350), -1, 0),
		row(ingestWorkload(jobIngestLarge), limitBolt, ms(330), -1, 0),
		row(ingestWorkload(jobIngestLarge), limitBoltWindows, ms(540), -1, 0),
		row(ingestWorkload(jobIngestLarge), limitCutHashBolt, ms(600), -1, 0),
		row(wlFixtureCold, limitHashBolt, ms(3.3, 3.4), -1, 0),
		row(wlFixtureWarm, limitHashBolt, ms(1.2, 1.3), -1, 0),
		{Workload: ingestWorkload(jobIngestRandom), System: limitLeastBolt, Stored: int64p(164_500_000), StoredApparent: int64p(164_500_000), Note: leastNote(163_840_000, 164_500_000)},
		{Workload: wlBigPut, System: limitLeastBolt, Stored: int64p(1_073_900_000), StoredApparent: int64p(1_073_900_000), Note: leastNote(1_073_741_824, 1_073_900_000)},
	}
	rep.Rows[28].Note = "store built in 5m41s by an earlier run"
	rep.Rows[slices.IndexFunc(rep.Rows, func(r Row) bool { return r.Workload == processWorkload(1_000) })].Note =
		"pf --version 6.10 ms, a Go program that only exits 1.20 ms"
	rep.Tasks = []TaskTime{{jobFixture, sysPF, 12.5}, {historyJob(1_000_000), sysReference, 301}, {jobCkptGoroot, sysShadowGit, 190},
		{historyJob(1_000_000), sysPF, 130}, {jobBigBlob, sysGitLoose, 45}, {jobIngestJSONL, sysGit, 40}, {jobIngestRandom, sysPF, 8}}
	for i := range rep.Rows {
		rep.Rows[i].Load = []string{"0.52 0.41 0.30", "1.95 0.80 0.41", "3.10 1.20 0.60"}[i%3]
	}
	rep.Rows = append(rep.Rows,
		Row{Workload: wlBigPut, System: sysSQLite, Error: "sqlite: string or blob too big (18)"},
		Row{Workload: wlBigChanged, System: sysSQLite, Skipped: "the first put failed"},
	)
	return rep
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/bench -run %s -update to write it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; got:\n%s", name, got)
	}
}

func TestReport_Text(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteText(&b); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "report.txt", b.Bytes())
}

func TestReport_Markdown(t *testing.T) {
	md := sampleReport().Markdown("plot.svg")
	checkGolden(t, "report.md", md)
	// Every table row has as many cells as its header.
	var cols int
	for _, line := range strings.Split(string(md), "\n") {
		if !strings.HasPrefix(line, "|") {
			cols = 0
			continue
		}
		n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|") - 1
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("a row of %d cells under a header of %d: %s", n, cols, line)
		}
	}
}

func TestReport_SVG(t *testing.T) {
	svg := sampleReport().SVG()
	checkGolden(t, "plot.svg", svg)
	if !bytes.HasPrefix(svg, []byte("<svg ")) || !bytes.HasSuffix(svg, []byte("</svg>\n")) {
		t.Error("not one svg element")
	}
	if bytes.Contains(svg, []byte("NaN")) || bytes.Contains(svg, []byte("Inf")) {
		t.Error("the plot has a NaN or Inf coordinate")
	}
}

func TestReport_JSONRoundTrip(t *testing.T) {
	rep := sampleReport()
	b, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "report.json", b)
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Rows) != len(rep.Rows) || back.Rows[0].median() != rep.Rows[0].median() {
		t.Error("the JSON does not read back as the report")
	}
}

// The goals are judged from the rows: each verdict follows the figures.
func TestReport_Goals(t *testing.T) {
	verdicts := map[string]string{}
	for _, g := range sampleReport().goals() {
		verdicts[g.goal] = g.verdict
	}
	for goal, want := range map[string]string{
		"every speed row: pf ≥ 1.5× the fastest peer":                                                                             verdictMissed, // warm: SQLite 1.55 ms
		"every stored-bytes row: pf ≤ the smallest peer":                                                                          verdictMissed, // cold: SQLite 1.44 MB
		"verified reads of 4 MiB blobs ≤ 1.5× the time of SHA-256 plus a copy of the same bytes":                                  verdictMet,    // 385/305
		"newest 100 since a time ≥ 1.5× SQLite at every store size":                                                               verdictMissed, // 3.05/0.65
		"cold fixture snapshot ≤ 5 ms and ≥ 10× faster than the reference design":                                                 verdictMet,    // 4.1 ms, 61/4.1
		"`pf log -n 100` as a whole process ≤ 10 ms on a small store, ≤ 2× that on 1,000,000 images":                              verdictMet,    // 8.25, 11.5 ms
		"the 1 GiB blob with 1% changed adds < 5% of its size":                                                                    verdictMet,
		"$GOROOT/src + ignored node_modules/: first checkpoint ≥ 10× faster than the shadow repository's":                         verdictMet,    // 6.6/0.595
		"$GOROOT/src + ignored node_modules/: a turn with 10 files changed ≥ 5× faster than git add -A + git commit":              verdictMet,    // 330/40
		"$GOROOT/src + ignored node_modules/: checkpoint of an unchanged workspace ≤ 30 ms, the whole pf snapshot process":        verdictMissed, // 96 ms
		"$GOROOT/src + ignored node_modules/: pf status ≥ 3× faster than git status":                                              verdictMet,    // 91/24.5
		"$GOROOT/src + ignored node_modules/: pf restore ≥ 5× faster than git reset --hard + git clean -fd":                       verdictMissed, // 605/155
		"$GOROOT/src + ignored node_modules/: store after the first checkpoint and 20 turns ≤ the shadow repository after git gc": verdictMissed, // 40 MB > 33 MB
		"one 2 GiB file growing 1% a turn: peak RSS of every pf process ≤ 128 MiB":                                                verdictMet,    // 90 MiB
	} {
		if got := verdicts[goal]; got != want {
			t.Errorf("%s: %q, want %q", goal, got, want)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := (Row{Seconds: tc.in}).median(); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestSelect(t *testing.T) {
	sel, err := QuickSizes.Select([]string{"fixture", "git", "history"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(sel.Jobs, ","), "fixture,history-1k,history-10k"; got != want {
		t.Errorf("jobs %s, want %s", got, want)
	}
	if got, want := strings.Join(sel.Systems, ","), "pf,git,git-hash-object,shadow-git"; got != want {
		t.Errorf("systems %s, want %s", got, want)
	}
	if _, err := QuickSizes.Select([]string{"history-1m"}); err == nil {
		t.Error("--quick took history-1m, which it does not run")
	}
	if _, err := FullSizes.Select([]string{"nosuch"}); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown name: %v", err)
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{commas(1000000), "1,000,000"}, {commas(999), "999"}, {commas(-12345), "-12,345"},
		{sizeName(16 << 10), "16 KiB"}, {sizeName(1 << 30), "1 GiB"},
		{fmtDuration(0.0041), "4.10 ms"}, {fmtDuration(731.5), "12m12s"}, {fmtDuration(3e-6), "3.00 µs"},
		{fmtBytes(512), "512 B"}, {fmtBytes(1_900_000), "1.8 MiB"}, {fmtBytes(-3 << 20), "-3.0 MiB"}, {fmtRate(180e6), "180 MB/s"},
		{fmtRatio(14.88), "14.9×"}, {fmtRatio(0.0751), "0.0751×"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestReport_WriteMarkdownFile_ThroughSymlink: --markdown naming a link
// replaces the link's target, whole, and leaves the link a link.
func TestReport_WriteMarkdownFile_ThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "docs", "BENCHMARKS.md")
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "BENCHMARKS.md")
	if err := os.Symlink(filepath.Join("docs", "BENCHMARKS.md"), link); err != nil {
		t.Skip(err)
	}
	rep := sampleReport()
	if err := rep.writeMarkdownFile(link); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link became %v (%v)", fi.Mode(), err)
	}
	got, err := os.ReadFile(target)
	if err != nil || !bytes.Equal(got, rep.Markdown("BENCHMARKS.svg")) {
		t.Fatalf("the link's target holds %d bytes (%v), not the report", len(got), err)
	}
}

// A large pull short of 70% of oras names the slowest of its limits in
// the same run that pf did not beat, and says whether that limit alone is
// under 70% of oras's pull.
func TestReport_Goals_PullMissNamesBound(t *testing.T) {
	tests := []struct {
		name                 string
		receive, receiveBolt []float64
		bolt, windows        []float64
		all                  []float64 // receive + cut + SHA-256 ×2 + bbolt; nil: not run
		want, not            string
	}{
		{"the receive limit under 70% of oras's pull", []float64{2.5}, []float64{2.0}, []float64{1.9}, []float64{6.0}, nil,
			"the slowest, receive + cut + SHA-256 ×2, bounds what pf must do (receive + cut + SHA-256 ×2 alone runs at 66% of oras-go alone, under the goal's 70%), and pf runs at 49% of it.",
			"over the goal's"},
		{"receiving into bbolt the slowest, under 70% of oras's pull", []float64{2.2}, []float64{2.6}, []float64{1.9}, []float64{6.0}, nil,
			"the slowest, receive + bbolt, 8 MiB commits, bounds what pf must do (receive + bbolt, 8 MiB commits alone runs at 63% of oras-go alone, under the goal's 70%), and pf runs at 51% of it.",
			"the slowest, receive + cut"},
		{"the whole pull's limit the slowest, under 70% of oras's pull", []float64{2.2}, []float64{1.5}, []float64{1.9}, []float64{6.0},
			[]float64{3.0},
			"the slowest, receive + cut + SHA-256 ×2 + bbolt, bounds what pf must do (receive + cut + SHA-256 ×2 + bbolt alone runs at 55% of oras-go alone, under the goal's 70%), and pf runs at 59% of it.",
			"the slowest, receive + cut + SHA-256 ×2,"},
		{"bbolt on bytes in memory bounds no pull", []float64{1.8}, []float64{1.7}, []float64{3.0}, []float64{6.0}, []float64{2.5},
			"the slowest, receive + cut + SHA-256 ×2 + bbolt, bounds what pf must do", "the slowest, bbolt,"},
		{"the whole pull's limit over 70% of oras's pull", []float64{1.8}, []float64{1.7}, []float64{1.9}, []float64{6.0}, []float64{2.2},
			"the slowest, receive + cut + SHA-256 ×2 + bbolt, bounds what pf must do (receive + cut + SHA-256 ×2 + bbolt alone runs at 75% of oras-go alone, over the goal's 70%: it alone does not keep pf from the goal), and pf runs at 43% of it.",
			"under the goal's"},
		{"a limit slower than pf bounds nothing", []float64{1.8}, []float64{1.7}, []float64{1.9}, []float64{6.0}, []float64{5.3},
			"the slowest, receive + cut + SHA-256 ×2, bounds", "the slowest, receive + cut + SHA-256 ×2 + bbolt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := sampleReport()
			rep.Rows = append(rep.Rows,
				Row{Workload: wlRegPull, System: sysPF, Seconds: []float64{5.0, 5.2}},
				Row{Workload: wlRegPull, System: sysOras, Seconds: []float64{1.6, 1.7}},
				Row{Workload: wlRegPull, System: limitReceive, Seconds: tt.receive},
				Row{Workload: wlRegPull, System: limitReceiveBolt, Seconds: tt.receiveBolt},
				Row{Workload: wlRegPull, System: limitReceiveAllBolt, Seconds: tt.all},
				Row{Workload: wlRegPull, System: limitBolt, Seconds: tt.bolt},
				Row{Workload: wlRegPull, System: limitBoltWindows, Seconds: tt.windows},
				Row{Workload: wlRegPull, System: limitWrite, Seconds: []float64{0.6}},
			)
			checkMissedWhy(t, rep, "registry goal", func(goal string) bool { return strings.HasPrefix(goal, "push and pull of 1 GiB") }, tt.want, tt.not)
		})
	}
}

// A missed ingest goal names the slowest limit on the same bytes, and says
// whether that limit alone is under the goal's share of write+fsync: then
// no put that does that work reaches the goal on this machine.
func TestReport_Goals_IngestMissNamesBound(t *testing.T) {
	slower := []float64{0.9} // than pf's 700 ms: bounds nothing
	tests := []struct {
		name      string
		cutHash   []float64 // the 4 MiB ingest's cut + SHA-256 ×2
		windows   []float64 // its bbolt in 8 MiB commits
		all       []float64 // both at once, cut + SHA-256 ×2 + bbolt
		write     []float64 // and its write+fsync
		want, not string
	}{
		{"bbolt's 8 MiB commits under 70% of write+fsync", []float64{0.35}, []float64{0.54}, slower, []float64{0.215},
			"the slowest, bbolt, 8 MiB commits, bounds what pf must do (bbolt, 8 MiB commits alone runs at 40% of write+fsync, under the goal's 70%), and pf runs at 77% of it.", "the slowest, write+fsync"},
		{"the cut and hashes under 70% of write+fsync", []float64{0.35}, []float64{0.3}, slower, []float64{0.215},
			"the slowest, cut + SHA-256 ×2, bounds what pf must do (cut + SHA-256 ×2 alone runs at 61% of write+fsync, under the goal's 70%), and pf runs at 50% of it.", "the slowest, write+fsync"},
		{"the cut and hashes over 70% of write+fsync", []float64{0.3}, []float64{0.3}, slower, []float64{0.25},
			"the slowest, bbolt, bounds what pf must do (bbolt alone runs at 76% of write+fsync, over the goal's 70%: it alone does not keep pf from the goal), and pf runs at 47% of it.", "under the goal's"},
		{"a limit slower than pf bounds nothing", []float64{0.35}, []float64{0.9}, slower, []float64{0.215},
			"the slowest, cut + SHA-256 ×2, bounds what pf must do", "the slowest, bbolt, 8 MiB commits"},
		{"write+fsync the slowest", []float64{0.2}, []float64{0.3}, slower, []float64{0.45},
			"the slowest, write+fsync, bounds what pf must do, and pf runs at 64% of it.", "under the goal's"},
		{"the whole put's limit the slowest, under 70% of write+fsync", []float64{0.35}, []float64{0.54}, []float64{0.6}, []float64{0.215},
			"the slowest, cut + SHA-256 ×2 + bbolt, bounds what pf must do (cut + SHA-256 ×2 + bbolt alone runs at 36% of write+fsync, under the goal's 70%), and pf runs at 86% of it.",
			"the slowest, bbolt, 8 MiB commits,"},
		{"the whole put's limit the slowest, over 70% of write+fsync", []float64{0.2}, []float64{0.25}, []float64{0.34}, []float64{0.25},
			"the slowest, cut + SHA-256 ×2 + bbolt, bounds what pf must do (cut + SHA-256 ×2 + bbolt alone runs at 74% of write+fsync, over the goal's 70%: it alone does not keep pf from the goal), and pf runs at 49% of it.",
			"under the goal's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := sampleReport()
			for i, r := range rep.Rows {
				switch {
				case r.Workload != ingestWorkload(jobIngestLarge):
				case r.System == limitCutHash:
					rep.Rows[i].Seconds = tt.cutHash
				case r.System == limitBoltWindows:
					rep.Rows[i].Seconds = tt.windows
				case r.System == limitCutHashBolt:
					rep.Rows[i].Seconds = tt.all
				case r.System == limitWrite:
					rep.Rows[i].Seconds = tt.write
				}
			}
			checkMissedWhy(t, rep, "ingest goal", func(goal string) bool { return strings.HasPrefix(goal, "ingest of large blobs") }, tt.want, tt.not)
		})
	}
}

// A missed first-checkpoint goal is weighed against the same run's read +
// SHA-256 of the tree (and its read + SHA-256 + zstd, when measured) and
// a pf process's start: over the goal's budget, no first checkpoint meets
// it; under it, the limit does not explain the miss, and the report says
// how much of pf's time the limit is.
func TestReport_Goals_FirstMissNamesReadLimit(t *testing.T) {
	tests := []struct {
		name      string
		read      []float64 // the tree's read + SHA-256
		zstd      []float64 // the tree's read + SHA-256 + zstd; none if nil
		bolt      []float64 // the tree's read + SHA-256 + bbolt; none if nil
		zbolt     []float64 // the tree's read + SHA-256 + zstd + bbolt; none if nil
		want, not string
	}{
		{"storing, under the budget", []float64{0.5, 0.52}, nil, []float64{0.8, 0.8}, nil,
			"takes 510 ms here (24% of pf's 2.15 s); storing each file's bytes too, raw as a put keeps them, into one new bbolt file with pf's options (packs of 4 MiB, an index entry per file keyed by its digest: 83 MiB read into 21 packs, 100,000 index entries, one commit; 4 goroutines), 800 ms (37%); with a pf process's start, 805 ms, under the 1.65 s the goal leaves the whole step: this limit does not explain the miss; the rest of pf's time, 1.34 s (63%), is spent beyond this floor: what its store keeps beyond the bytes and their index",
			"no first checkpoint"},
		{"storing, over the budget", []float64{0.5, 0.52}, nil, []float64{1.7, 1.7}, nil,
			"1.70 s (79%); with a pf process's start, 1.70 s, more than the 1.65 s the goal leaves the whole step: no first checkpoint into a store built as pf's is meets it",
			"does not explain"},
		{"compressing, over the budget", []float64{0.5, 0.52}, []float64{1.7, 1.8}, nil, nil,
			"takes 510 ms here (24% of pf's 2.15 s); compressing each file too as a put does (zstd at pf's level, the files a put tries: 70 MiB of the 83 MiB read compressed into 20 MiB), 1.75 s (81%); with a pf process's start, 1.75 s, more than the 1.65 s the goal leaves the whole step: no first checkpoint into a store that compresses as pf's does meets it",
			"does not explain"},
		{"compressing, under the budget", []float64{0.5, 0.52}, []float64{1.0, 1.0}, nil, nil,
			"1.00 s (47%); with a pf process's start, 1.00 s, under the 1.65 s the goal leaves the whole step: this limit does not explain the miss; the rest of pf's time, 1.15 s (53%), is spent beyond this floor: storing the bytes,",
			"no first checkpoint"},
		{"compressing and storing, under the budget", []float64{0.5, 0.52}, []float64{1.0, 2.5}, nil, []float64{1.2, 1.3},
			"1.75 s (81%); storing what that makes too, as a put writes early, into one new bbolt file with pf's options (each piece a value, or packed if small, in commits of 8 MiB each fsync'd, one in flight while the next fills; an index entry per file keyed by its digest: 20 MiB stored in 3 commits of 8 MiB; 4 goroutines), 1.25 s (58%); with a pf process's start, 1.25 s, under the 1.65 s the goal leaves the whole step: this limit does not explain the miss; the rest of pf's time, 895 ms (42%), is spent beyond this floor: what its store does beyond compressing and writing the bytes and their index (cutting them into chunks, hashing each chunk",
			"no first checkpoint"},
		{"compressing and storing, over the budget", []float64{0.5, 0.52}, []float64{1.0, 2.5}, nil, []float64{1.9, 2.0},
			"1.95 s (91%); with a pf process's start, 1.95 s, more than the 1.65 s the goal leaves the whole step: no first checkpoint into a store that compresses as pf's does and keeps the bytes in a bbolt file meets it",
			"does not explain"},
		{"the limit under the budget", []float64{0.5, 0.52}, nil, nil, nil,
			"takes 510 ms here (24% of pf's 2.15 s); with a pf process's start, 515 ms, under the 1.65 s the goal leaves the whole step: this limit does not explain the miss; the rest of pf's time, 1.63 s (76%), is spent beyond this floor",
			"no first checkpoint meets it"},
		{"the limit over the budget", []float64{1.7, 1.8}, nil, nil, nil,
			"takes 1.75 s here (81% of pf's 2.15 s); with a pf process's start, 1.75 s, more than the 1.65 s the goal leaves the whole step: no first checkpoint meets it",
			"does not explain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := firstMissReport(tt.read)
			first := ckptWorkload(jobCkptSmall, stepFirst)
			if tt.zstd != nil {
				rep.Rows = append(rep.Rows, Row{Workload: first, System: limitReadHashZstd, Seconds: tt.zstd, Note: "70 MiB of the 83 MiB read compressed into 20 MiB"})
			}
			if tt.zbolt != nil {
				rep.Rows = append(rep.Rows, Row{Workload: first, System: limitReadHashZstdBolt, Seconds: tt.zbolt, Note: "20 MiB stored in 3 commits of 8 MiB; 4 goroutines"})
			}
			if tt.bolt != nil {
				rep.Rows = append(rep.Rows, Row{Workload: first, System: limitReadHashBolt, Seconds: tt.bolt, Note: "83 MiB read into 21 packs, 100,000 index entries, one commit; 4 goroutines"})
			}
			checkFirstMissWhy(t, rep, tt.want, tt.not)
		})
	}
}

// firstMissReport is sampleReport with a first checkpoint of the small
// tree that missed its goal: pf's 2.15 s, the shadow repository's 16.5 s,
// a pf process's start, its read + SHA-256 limit at read, and limits.
func firstMissReport(read []float64, limits ...Row) *Report {
	rep := sampleReport()
	first := ckptWorkload(jobCkptSmall, stepFirst)
	rep.Rows = append(rep.Rows,
		Row{Workload: first, System: sysPF, Seconds: []float64{2.15}},
		Row{Workload: first, System: sysShadowGit, Seconds: []float64{16.5}},
		Row{Workload: first, System: limitReadHash, Seconds: read, Note: "100,001 files"},
		Row{Workload: first, System: limitStart, Seconds: []float64{0.005}},
	)
	for _, l := range limits {
		l.Workload = first
		rep.Rows = append(rep.Rows, l)
	}
	return rep
}

// checkFirstMissWhy checks the why of firstMissReport's missed goal.
func checkFirstMissWhy(t *testing.T, rep *Report, want, not string) {
	t.Helper()
	checkMissedWhy(t, rep, "first-checkpoint goal", func(goal string) bool {
		return strings.HasSuffix(goal, "first checkpoint ≥ 10× faster than the shadow repository's") && strings.HasPrefix(goal, "100,000")
	}, want, not)
}

// On a tree with a file a put cuts into chunks, a missed first checkpoint
// is weighed against the floor that also cuts and hashes each chunk
// (read + cut + SHA-256 ×2 + zstd + bbolt), the larger one, and what pf
// does beyond it no longer names the cut.
func TestReport_Goals_FirstMissNamesCutLimit(t *testing.T) {
	tests := []struct {
		name      string
		cut       []float64 // the tree's read + cut + SHA-256 ×2 + zstd + bbolt
		want, not string
	}{
		{"under the budget", []float64{1.4, 1.5},
			"1.25 s (58%); cutting each file over 1 MiB into chunks as a put does too, and hashing each chunk (SHA-256) as well as the whole file: the work pf's format asks so that a later checkpoint stores only the chunks that changed (20 MiB stored in 3 commits of 8 MiB; 4 goroutines), 1.45 s (67%); with a pf process's start, 1.45 s, under the 1.65 s the goal leaves the whole step: this limit does not explain the miss; the rest of pf's time, 695 ms (32%), is spent beyond this floor: what its store does beyond cutting, hashing, compressing and writing the bytes and their index (value formats",
			"cutting them into chunks, hashing each chunk"},
		{"slower than pf", []float64{2.2, 2.3},
			"2.25 s (105%), more than pf's own time: a floor measured slower than pf bounds nothing (the machine was busier while it ran, or pf overlaps the work better still), and the floor is the one before it; with a pf process's start, 1.25 s, under the 1.65 s the goal leaves the whole step: this limit does not explain the miss",
			"no first checkpoint"},
		{"over the budget", []float64{1.8, 1.9},
			"1.85 s (86%); with a pf process's start, 1.85 s, more than the 1.65 s the goal leaves the whole step: no first checkpoint into a store that cuts its large files into chunks keyed by their digests, compresses as pf's does and keeps the bytes in a bbolt file meets it",
			"does not explain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := firstMissReport([]float64{0.5, 0.52},
				Row{System: limitReadHashZstd, Seconds: []float64{1.0, 2.5}, Note: "70 MiB of the 83 MiB read compressed into 20 MiB"},
				Row{System: limitReadHashZstdBolt, Seconds: []float64{1.2, 1.3}, Note: "20 MiB stored in 3 commits of 8 MiB; 4 goroutines"},
				Row{System: limitReadCutHashZstdBolt, Seconds: tt.cut, Note: "20 MiB stored in 3 commits of 8 MiB; 4 goroutines"},
			)
			checkFirstMissWhy(t, rep, tt.want, tt.not)
		})
	}
}

// A speed row pf missed names its slowest limit pf did not beat, and says
// whether that limit alone is slower than what 1.5x the fastest peer asks.
func TestReport_Goals_SpeedMissNamesBound(t *testing.T) {
	tests := []struct {
		name      string
		warmLimit []float64 // the warm snapshot's SHA-256 + bbolt; pf 2.05 ms, SQLite 1.55 ms
		want      string
	}{
		{"a limit slower than 1.5x asks", []float64{0.0012, 0.0013},
			"fixture warm snapshot: 0.756× SQLite (pf 2.05 ms, SQLite 1.55 ms; bounded by SHA-256 + bbolt 1.25 ms, slower than the 1.03 ms that 1.5× asks)"},
		{"a limit under what 1.5x asks", []float64{0.0009},
			"fixture warm snapshot: 0.756× SQLite (pf 2.05 ms, SQLite 1.55 ms; its slowest limit, SHA-256 + bbolt 900 µs, is under the 1.03 ms that 1.5× asks: the rest is pf's own)"},
		{"a limit pf beat bounds nothing", []float64{0.0025},
			"fixture warm snapshot: 0.756× SQLite (pf 2.05 ms, SQLite 1.55 ms; pf ran faster than its slowest limit, SHA-256 + bbolt 2.50 ms)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := sampleReport()
			for i, r := range rep.Rows {
				if r.Workload == wlFixtureWarm && r.System == limitHashBolt {
					rep.Rows[i].Seconds = tt.warmLimit
				}
			}
			for _, g := range rep.goals() {
				if !strings.HasPrefix(g.goal, "every speed row") {
					continue
				}
				if !strings.Contains(g.measured, tt.want) {
					t.Errorf("measured %q, want it to hold %q", g.measured, tt.want)
				}
				return
			}
			t.Fatal("no speed goal")
		})
	}
}

// checkMissedWhy finds the goal that is, named what, marks it missed,
// and checks that its explanation holds want and not not.
func checkMissedWhy(t *testing.T, rep *Report, what string, is func(goal string) bool, want, not string) {
	t.Helper()
	for _, g := range rep.goals() {
		if !is(g.goal) {
			continue
		}
		if g.verdict != verdictMissed || !strings.Contains(g.why, want) || strings.Contains(g.why, not) {
			t.Errorf("%s: %s, why %q", g.goal, g.verdict, g.why)
		}
		return
	}
	t.Fatal("no " + what)
}

// A stored-bytes row where pf takes more than the smallest peer is
// weighed against the least bbolt file of the same values: over the
// peer, no store built as pf is stores as little; under it, the rest of
// the miss is pf's own layout. Either way the report says how far pf is
// over that file.
func TestReport_Goals_BytesMissNamesLeastFile(t *testing.T) {
	tests := []struct {
		name    string
		least   int64 // the 1 GiB blob's least file; the reference design's is 1,073,800,000
		want    string
		notWant string
	}{
		{"the least file over the peer", 1_073_900_000,
			"the 1 GiB blob: pf 1.0 GiB, reference design 1.0 GiB (+0.1%), the least bbolt file holding the same values +0.01% on reference design (no store built as pf is stores as little on these bytes), and pf +0.10% on that file",
			"the rest is pf's own layout), and pf +0.10%"},
		{"the least file under the peer", 1_073_700_000,
			"the 1 GiB blob: pf 1.0 GiB, reference design 1.0 GiB (+0.1%), the least bbolt file holding the same values -0.01% on reference design (under it: the rest is pf's own layout), and pf +0.12% on that file",
			"no store built as pf is stores as little"},
		{"no least file measured", 0, "the 1 GiB blob: pf 1.0 GiB, reference design 1.0 GiB (+0.1%)", "reference design 1.0 GiB (+0.1%), the least"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := sampleReport()
			rep.Rows = slices.DeleteFunc(rep.Rows, func(r Row) bool { return r.Workload == wlBigPut && r.System == limitLeastBolt })
			if tt.least > 0 {
				rep.Rows = append(rep.Rows, Row{Workload: wlBigPut, System: limitLeastBolt, Stored: int64p(tt.least)})
			}
			for _, g := range rep.goals() {
				if !strings.HasPrefix(g.goal, "every stored-bytes row") {
					continue
				}
				if g.verdict != verdictMissed || !strings.Contains(g.measured, tt.want) || strings.Contains(g.measured, tt.notWant) {
					t.Errorf("%s, measured %q", g.verdict, g.measured)
				}
				return
			}
			t.Fatal("no stored-bytes goal")
		})
	}
}
