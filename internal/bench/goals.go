package bench

import (
	"fmt"
	"math"
	"strings"
)

// The goals for pf, judged from a run's rows. A goal whose rows
// did not run is not measured; the why of a missed goal is built from
// the run's own figures.

const (
	verdictMet      = "met"
	verdictMissed   = "missed"
	verdictUnmeased = "not measured"
)

type goal struct {
	goal, measured, verdict, why string
}

func judge(ok bool) string {
	if ok {
		return verdictMet
	}
	return verdictMissed
}

// pair returns pf's row and another system's for a workload, if both ran.
func (rep *Report) pair(workload, system string) (pf, r Row, ok bool) {
	pf, ok1 := rep.row(workload, sysPF)
	r, ok2 := rep.row(workload, system)
	return pf, r, ok1 && ok2 && pf.ok() && r.ok()
}

// bestGit is the faster of the git rows of a workload (for a workload
// of bytes alone, the one there is).
func (rep *Report) bestGit(workload string) (Row, bool) {
	var best Row
	found := false
	for _, sys := range []string{sysGit, sysGitLoose, sysShadowGit} {
		r, ok := rep.row(workload, sys)
		if !ok || !r.ok() || (math.IsNaN(r.median()) && r.Stored == nil) {
			continue
		}
		if !found || r.median() < best.median() {
			best, found = r, true
		}
	}
	return best, found
}

func (rep *Report) goals() []goal {
	var out []goal
	add := func(g goal) { out = append(out, g) }

	// Cold fixture snapshot at least 10x faster than the reference.
	if pf, ref, ok := rep.pair(wlFixtureCold, sysReference); ok {
		r := speedRatio(pf, ref)
		g := goal{goal: "cold fixture snapshot ≥ 10× faster than the reference design",
			measured: fmt.Sprintf("%s (pf %s, reference %s)", fmtRatio(r), fmtDuration(pf.median()), fmtDuration(ref.median())),
			verdict:  judge(r >= 10)}
		if r < 10 {
			g.why = rep.diskWhy(wlFixtureCold, pf)
		}
		add(g)
	}

	// Ingest at least 2x SQLite and 5x git, and half the SHA-256 limit on
	// random data.
	type want struct {
		label, system string
		min           float64
	}
	for _, wnt := range []want{{"SQLite", sysSQLite, 2}, {"git", "", 5}, {"SHA-256", limitSHA256, 0.5}} {
		var parts, short []string
		met := true
		for _, wl := range rep.Workloads {
			if wl.Metric != metricThroughput || wl.Job == jobBigBlob {
				continue
			}
			if wnt.system == limitSHA256 && wl.Data != kindRandom {
				continue
			}
			pf, ok := rep.row(wl.ID, sysPF)
			if !ok || !pf.ok() {
				continue
			}
			var other Row
			if wnt.system == "" {
				other, ok = rep.bestGit(wl.ID)
			} else {
				other, ok = rep.row(wl.ID, wnt.system)
				ok = ok && other.ok()
			}
			if !ok {
				continue
			}
			r := speedRatio(pf, other)
			parts = append(parts, fmt.Sprintf("%s %s", shortName(wl), fmtRatio(r)))
			if !(r >= wnt.min) {
				met = false
				short = append(short, rep.ingestWhy(wl, pf, other, wnt.label))
			}
		}
		if len(parts) == 0 {
			continue
		}
		name := fmt.Sprintf("blob ingest ≥ %s× %s", sig3(wnt.min), wnt.label)
		if wnt.system == limitSHA256 {
			name = "blob ingest ≥ half the SHA-256 limit on random data"
		}
		add(goal{goal: name, measured: strings.Join(parts, ", "), verdict: judge(met), why: strings.Join(short, " ")})
	}

	// History flat in store size, and 100x the reference at 100,000.
	var sizes []int
	for _, wl := range rep.Workloads {
		if wl.Images > 0 {
			if pf, ok := rep.row(wl.ID, sysPF); ok && pf.ok() {
				sizes = append(sizes, wl.Images)
			}
		}
	}
	if len(sizes) >= 2 {
		small, large := sizes[0], sizes[len(sizes)-1]
		a, _ := rep.row(historyWorkload(small), sysPF)
		b, _ := rep.row(historyWorkload(large), sysPF)
		r := b.median() / a.median()
		g := goal{goal: "history query flat in store size: 1,000,000 images ≤ 2× the time of 1,000",
			measured: fmt.Sprintf("%s images / %s: %s (%s, then %s)", commas(large), commas(small), fmtRatio(r), fmtDuration(a.median()), fmtDuration(b.median())),
			verdict:  judge(r <= 2)}
		if large < 1_000_000 {
			g.verdict = verdictUnmeased
			g.measured += "; the million-image store runs only in the full run"
		}
		if g.verdict == verdictMissed {
			g.why = fmt.Sprintf("pf's query took %s at %s images and %s at %s.", fmtDuration(a.median()), commas(small), fmtDuration(b.median()), commas(large))
		}
		add(g)
	}
	if pf, ref, ok := rep.pair(historyWorkload(100_000), sysReference); ok {
		r := speedRatio(pf, ref)
		add(goal{goal: "history query ≥ 100× faster than the reference design at 100,000 images",
			measured: fmt.Sprintf("%s (pf %s, reference %s)", fmtRatio(r), fmtDuration(pf.median()), fmtDuration(ref.median())),
			verdict:  judge(r >= 100)})
	} else if len(sizes) > 0 {
		add(goal{goal: "history query ≥ 100× faster than the reference design at 100,000 images",
			measured: "the 100,000-image store did not run", verdict: verdictUnmeased})
	}

	// Stored bytes no more than the reference's on every workload.
	var over, compared []string
	for _, wl := range rep.Workloads {
		pf, ref, ok := rep.pair(wl.ID, sysReference)
		if !ok || pf.Stored == nil || ref.Stored == nil {
			continue
		}
		compared = append(compared, shortName(wl))
		if *pf.Stored > *ref.Stored {
			over = append(over, fmt.Sprintf("%s: pf %s, reference %s (%+.1f%%)", shortName(wl), fmtBytes(*pf.Stored), fmtBytes(*ref.Stored),
				100*(bytesRatio(pf, ref)-1)))
		}
	}
	if len(compared) > 0 {
		g := goal{goal: "stored bytes ≤ the reference design's on every workload", verdict: judge(len(over) == 0)}
		if len(over) == 0 {
			g.measured = fmt.Sprintf("no more on all %d workloads compared", len(compared))
		} else {
			g.measured = fmt.Sprintf("more on %d of %d: %s", len(over), len(compared), strings.Join(over, "; "))
			g.why = rep.bytesWhy()
		}
		add(g)
	}

	// The 1%-changed 1 GiB blob adds under 5% of its size.
	if pf, ok := rep.row(wlBigChanged, sysPF); ok && pf.ok() && pf.Stored != nil {
		size := rep.Sizes.BigBlob
		share := float64(*pf.Stored) / float64(size)
		g := goal{goal: "the 1 GiB blob with 1% changed adds < 5% of its size",
			measured: fmt.Sprintf("%s added, %.2f%% of %s", fmtBytes(*pf.Stored), 100*share, sizeName(size)),
			verdict:  judge(share < 0.05)}
		if size < 1<<30 {
			g.verdict = verdictUnmeased
			g.measured += "; the 1 GiB blob runs only in the full run"
		}
		add(g)
	}
	out = append(out, rep.checkpointGoals()...)
	return out
}

// shortName is a workload's name in a list.
func shortName(w Workload) string {
	switch {
	case w.Images > 0:
		return fmt.Sprintf("history of %s", commas(w.Images))
	case w.BlobSize > 0 && w.Metric == metricThroughput && w.Job != jobBigBlob:
		return fmt.Sprintf("ingest %s %s", sizeName(w.BlobSize), dataName(w.Data))
	case w.BlobSize > 0 && w.Metric == metricLatency:
		return fmt.Sprintf("reads %s %s", sizeName(w.BlobSize), dataName(w.Data))
	case w.ID == wlBigPut:
		return fmt.Sprintf("the %s blob", sizeName(w.Bytes))
	case w.ID == wlBigChanged:
		return fmt.Sprintf("the %s blob with 1%% changed", sizeName(w.Bytes))
	case w.ID == wlFixtureCold, w.ID == wlFixtureWarm:
		return strings.Replace(w.ID, "-", " ", 1) + " snapshot"
	case w.ID == wlFixtureForks:
		return fmt.Sprintf("fixture %d forks", w.Ops)
	}
	return w.ID
}

// diskWhy says how much of pf's time the disk alone takes on the same
// bytes, from the write+fsync limit row.
func (rep *Report) diskWhy(workload string, pf Row) string {
	lim, ok := rep.row(workload, limitWrite)
	if !ok || !lim.ok() {
		return ""
	}
	return fmt.Sprintf("writing the same bytes with one fsync alone takes %s, %.0f%% of pf's %s.",
		fmtDuration(lim.median()), 100*lim.median()/pf.median(), fmtDuration(pf.median()))
}

// ingestWhy explains a slow ingest from the limits on the same bytes: the
// slowest of them bounds any store that hashes, compresses and writes
// them durably.
func (rep *Report) ingestWhy(wl Workload, pf, other Row, label string) string {
	s := fmt.Sprintf("%s: pf %s, %s %s.", shortName(wl), rate(wl, pf), label, rate(wl, other))
	var parts []string
	var bound Row
	for _, l := range []string{limitSHA256, limitZstd, limitWrite} {
		lim, ok := rep.row(wl.ID, l)
		if !ok || !lim.ok() || math.IsNaN(lim.median()) {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s", strings.TrimPrefix(l, "limit: "), rate(wl, lim)))
		if bound.System == "" || lim.median() > bound.median() {
			bound = lim
		}
	}
	if len(parts) == 0 {
		return s
	}
	return s + fmt.Sprintf(" On the same bytes this machine does %s; the slowest, %s, bounds what pf must do, and pf runs at %.0f%% of it.",
		strings.Join(parts, ", "), strings.TrimPrefix(bound.System, "limit: "), 100*bound.median()/pf.median())
}

// bytesWhy compares pf's compression with the reference's where pf
// stores more: the reference's content is its files' sizes; pf's, its
// store's space on disk.
func (rep *Report) bytesWhy() string {
	var parts []string
	for _, wl := range rep.Workloads {
		pf, ref, ok := rep.pair(wl.ID, sysReference)
		if !ok || wl.Bytes == 0 || wl.Metric == metricBytes || pf.Stored == nil || ref.StoredApparent == nil || *pf.Stored <= *ref.Stored {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s, %s of input: the reference's zstd frames hold %s, pf's store takes %s on disk",
			shortName(wl), fmtBytes(wl.Bytes), fmtBytes(*ref.StoredApparent), fmtBytes(*pf.Stored)))
	}
	if len(parts) == 0 {
		return ""
	}
	return "pf compresses with zstd's fastest level (and stores data that looks random raw) into the pages of its bbolt file; " +
		"the reference design compresses each blob with zstd's strongest level into a file of its own: " + strings.Join(parts, "; ") + "."
}

// headline is one line per workload: pf's figure and its ratios to each
// peer and to the limit that bounds it.
func (rep *Report) headline() [][]string {
	out := [][]string{{"workload", "pf", "vs reference design", "vs git", "vs SQLite", "vs the machine's limit"}}
	for _, wl := range rep.Workloads {
		pf, ok := rep.row(wl.ID, sysPF)
		if !ok || !pf.ok() {
			continue
		}
		line := []string{wl.Title, rep.pfFigure(wl, pf)}
		for _, sys := range []string{sysReference, "", sysSQLite} {
			var r Row
			var ok bool
			if sys == "" {
				r, ok = rep.bestGit(wl.ID)
			} else {
				r, ok = rep.row(wl.ID, sys)
			}
			line = append(line, compare(wl, pf, r, ok))
		}
		line = append(line, rep.limitFigure(wl, pf))
		out = append(out, line)
	}
	return out
}

// pfFigure is pf's headline figure for a workload.
func (rep *Report) pfFigure(wl Workload, pf Row) string {
	switch wl.Metric {
	case metricBytes:
		if wl.StoredMeans == "store size" {
			return optBytes(pf.Stored)
		}
		return optBytes(pf.Stored) + " added"
	case metricThroughput:
		return rate(wl, pf)
	case metricLatency:
		if wl.Ops > 1 {
			return rate(wl, pf)
		}
	}
	return fmtDuration(pf.median())
}

// compare is pf against one peer in a headline cell.
func compare(wl Workload, pf, r Row, ok bool) string {
	switch {
	case !ok:
		return ""
	case r.Skipped != "":
		return "skipped"
	case r.Error != "":
		return "failed: " + oneLine(r.Error)
	}
	var parts []string
	if wl.Metric != metricBytes {
		if s := speedRatio(pf, r); !math.IsNaN(s) {
			parts = append(parts, fmtRatio(s)+" speed")
		}
	}
	if b := bytesRatio(pf, r); !math.IsNaN(b) {
		parts = append(parts, fmtRatio(b)+" bytes")
	}
	return strings.Join(parts, ", ")
}

// limitFigure is pf against the limit that bounds a workload: SHA-256
// for puts and reads, the changed bytes for the changed blob.
func (rep *Report) limitFigure(wl Workload, pf Row) string {
	if wl.Metric == metricBytes {
		if lim, ok := rep.row(wl.ID, limitChanged); ok {
			if b := bytesRatio(pf, lim); !math.IsNaN(b) {
				return fmtRatio(b) + " the changed bytes"
			}
		}
		return ""
	}
	var parts []string
	for _, l := range []string{limitSHA256, limitHashCopy, limitWrite} {
		if lim, ok := rep.row(wl.ID, l); ok && lim.ok() {
			parts = append(parts, fmt.Sprintf("%s of %s", fmtRatio(speedRatio(pf, lim)), strings.TrimPrefix(l, "limit: ")))
		}
	}
	return strings.Join(parts, ", ")
}

// slower lists the workloads where a peer was faster than pf, beyond the
// goals: what a user choosing a store should know too.
func (rep *Report) slower() []string {
	var out []string
	for _, wl := range rep.Workloads {
		if wl.Metric == metricBytes {
			continue
		}
		pf, ok := rep.row(wl.ID, sysPF)
		if !ok || !pf.ok() {
			continue
		}
		var faster []string
		for _, r := range rep.rowsOf(wl.ID) {
			if r.System == sysPF || strings.HasPrefix(r.System, "limit") {
				continue
			}
			if s := speedRatio(pf, r); s < 1 {
				faster = append(faster, fmt.Sprintf("%s %s faster", systemName(r.System), fmtRatio(1/s)))
			}
		}
		if len(faster) > 0 {
			out = append(out, fmt.Sprintf("%s (pf %s): %s", wl.Title, rep.pfFigure(wl, pf), strings.Join(faster, ", ")))
		}
	}
	return out
}
