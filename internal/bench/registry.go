package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/transfer/ociregistry/registrytest"
	"github.com/processfork/pf/manifest"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/registry/remote"
)

// The registry job: pf push and pf pull, whole pf processes, against
// oras-go alone (oras.Copy) moving the same images as an OCI image layout,
// to and from CNCF distribution's registry on loopback, and the limits of
// the large pull (registry_limits.go). Each system starts a registry of
// its own, with its storage under the job's directory.

const (
	jobRegistry = "registry"
	// sysOras is oras-go alone: oras.Copy between an OCI image layout
	// (what `pf export --oci-layout` writes) and the registry.
	sysOras = "oras"
)

// Workloads of the registry job.
const (
	wlRegPush        = "registry-push"
	wlRegPull        = "registry-pull"
	wlRegPushSmall   = "registry-push-small"
	wlRegPullSmall   = "registry-pull-small"
	wlRegPullPresent = "registry-pull-present"
)

// RegistryImages are the two images the registry job moves: one of
// large random blobs, one of many small ones.
type RegistryImages struct {
	Blobs      int   `json:"blobs"`
	BlobSize   int64 `json:"blob_size"`
	SmallBlobs int   `json:"small_blobs"`
	SmallSize  int64 `json:"small_size"`
}

func (ri RegistryImages) bytes() int64      { return int64(ri.Blobs) * ri.BlobSize }
func (ri RegistryImages) smallBytes() int64 { return int64(ri.SmallBlobs) * ri.SmallSize }

// The tags of the two images, in the source store, the OCI layout and
// the registry.
const (
	tagLarge = "large"
	tagSmall = "small"
)

func registryWorkloads(ri RegistryImages) []Workload {
	large := fmt.Sprintf("%s of random blobs (%s of %s)", sizeName(ri.bytes()), commas(ri.Blobs), sizeName(ri.BlobSize))
	small := fmt.Sprintf("%s random blobs of %s", commas(ri.SmallBlobs), sizeName(ri.SmallSize))
	return []Workload{
		{ID: wlRegPush, Job: jobRegistry, Title: "registry on loopback: push " + large, Metric: metricThroughput,
			Bytes: ri.bytes(), Ops: ri.Blobs, BlobSize: ri.BlobSize, Data: kindRandom},
		{ID: wlRegPull, Job: jobRegistry, Title: "registry on loopback: pull " + large + " into an empty store", Metric: metricThroughput,
			Bytes: ri.bytes(), Ops: ri.Blobs, BlobSize: ri.BlobSize, Data: kindRandom},
		{ID: wlRegPushSmall, Job: jobRegistry, Title: "registry on loopback: push " + small, Metric: metricThroughput,
			Bytes: ri.smallBytes(), Ops: ri.SmallBlobs, BlobSize: ri.SmallSize, Data: kindRandom},
		{ID: wlRegPullSmall, Job: jobRegistry, Title: "registry on loopback: pull " + small + " into an empty store", Metric: metricThroughput,
			Bytes: ri.smallBytes(), Ops: ri.SmallBlobs, BlobSize: ri.SmallSize, Data: kindRandom},
		{ID: wlRegPullPresent, Job: jobRegistry, Title: "registry on loopback: pull the " + sizeName(ri.bytes()) + " image again, every blob present",
			Metric: metricTime, Ops: 1},
	}
}

// registryMover is one system's way to move the images: each call
// returns the time it measured.
type registryMover interface {
	// push copies the image tagged tag to repository repo of the
	// registry, under the same tag.
	push(tag, repo string) (time.Duration, error)
	// pull copies it back into a new place (a store, a layout) in dir.
	pull(tag, repo, dir string) (time.Duration, error)
	// pullAgain pulls it into the place the last pull made.
	pullAgain(tag, repo string) (time.Duration, error)
}

// registry runs the registry job on pf or oras.
func (j *job) registry(system string) ([]Row, error) {
	rows := map[string]*Row{}
	var order []string
	for _, w := range registryWorkloads(j.Sizes.Registry) {
		rows[w.ID] = &Row{Workload: w.ID, System: system}
		order = append(order, w.ID)
	}
	all := func(f func(*Row)) []Row {
		var out []Row
		for _, id := range order {
			f(rows[id])
			out = append(out, *rows[id])
		}
		return out
	}
	skip := func(why string) ([]Row, error) {
		if system == sysLimits {
			return []Row{{Workload: wlRegPull, System: limitReceive, Skipped: why}}, nil
		}
		return all(func(r *Row) { r.Skipped = why }), nil
	}
	if j.PF == "" {
		return skip("no pf binary to run: " + j.PFMissing)
	}
	bin, why := registrytest.Installed()
	if bin == "" {
		return skip(why)
	}
	work, err := filepath.Abs(j.Work)
	if err != nil {
		return nil, err
	}
	p := &procs{ctx: j.ctx, env: os.Environ()}
	pfIn := func(store string, args ...string) (time.Duration, error) {
		_, d, err := p.run(work, j.PF, append([]string{"--store", store}, args...)...)
		return d, err
	}

	j.progress("writing the images")
	src := filepath.Join(work, "src.pf")
	if err := writeRegistryImages(j.ctx, src, j.Sizes.Registry); err != nil {
		return nil, err
	}
	j.progress("starting the registry")
	reg, stop, err := startRegistry(filepath.Join(work, "registry"))
	if err != nil {
		return nil, err
	}
	defer stop()

	var m registryMover
	switch system {
	case sysLimits:
		// The limits need the large image in the registry; pf pushes
		// it, untimed.
		j.progress("pushing the image the limits receive")
		const repo = "bench/limits"
		if _, err := pfIn(src, "push", tagLarge, "oci://"+reg.Addr+"/"+repo+":"+tagLarge); err != nil {
			return nil, err
		}
		return j.registryLimits(reg.Addr, repo, tagLarge)
	case sysPF:
		m = &pfMover{pf: pfIn, src: src, addr: reg.Addr}
	case sysOras:
		layout := filepath.Join(work, "layout")
		j.progress("exporting the OCI image layout")
		if _, err := pfIn(src, "export", tagLarge, tagSmall, "--tags", "--oci-layout", layout); err != nil {
			return nil, err
		}
		om, err := newOrasMover(j.ctx, layout, reg.Addr)
		if err != nil {
			return nil, err
		}
		m = om
	default:
		return nil, fmt.Errorf("no registry job on %s", system)
	}

	n := 0
	newRepo := func() string { n++; return fmt.Sprintf("bench/%s-%d", system, n) }
	var repo string
	err = func() error {
		for _, step := range []struct {
			push, pull, tag string
		}{{wlRegPush, wlRegPull, tagLarge}, {wlRegPushSmall, wlRegPullSmall, tagSmall}} {
			var err error
			rows[step.push].Seconds, err = j.rounds(step.push, j.Policy.Transfer, func() (time.Duration, error) {
				repo = newRepo()
				syncAll()
				return m.push(step.tag, repo)
			})
			if err != nil {
				return fmt.Errorf("push: %w", err)
			}
			// Each round pulls into a new place; the one before goes
			// (the large image's last is pulled again below).
			var pulled string
			rows[step.pull].Seconds, err = j.rounds(step.pull, j.Policy.Transfer, func() (time.Duration, error) {
				os.RemoveAll(pulled)
				dir, err := j.scratch("pulled")
				if err != nil {
					return 0, err
				}
				pulled = dir
				syncAll()
				return m.pull(step.tag, repo, dir)
			})
			if err != nil {
				return fmt.Errorf("pull: %w", err)
			}
			if step.tag == tagLarge {
				again := rows[wlRegPullPresent]
				large := repo
				reg.ResetLog()
				again.Seconds, err = j.rounds(wlRegPullPresent, j.Policy.Transfer, func() (time.Duration, error) {
					return m.pullAgain(tagLarge, large)
				})
				if err != nil {
					return fmt.Errorf("pull again: %w", err)
				}
				fetches := reg.Requests("GET", registrytest.BlobFetches)
				per := fetches / len(again.Seconds)
				again.BlobFetches = &per
				again.Note = fmt.Sprintf("%s a pull: the registry answered %s", plural(per, "blob fetched", "blobs fetched"),
					plural(reg.Requests("GET", registrytest.AnyRequest)/len(again.Seconds), "GET", "GETs"))
			}
		}
		return nil
	}()
	if err != nil {
		// The workloads measured before the failure keep their figures.
		return all(func(r *Row) {
			if len(r.Seconds) == 0 && r.Skipped == "" {
				r.Error = err.Error()
			}
		}), err
	}
	return all(func(*Row) {}), nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// writeRegistryImages writes the two images into a new pf store at path,
// tagged tagLarge and tagSmall: every blob random, from fixed seeds, so
// both systems move the same bytes.
func writeRegistryImages(ctx context.Context, path string, ri RegistryImages) error {
	s, err := pf.Open(path, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	for i, img := range []struct {
		tag   string
		pages randomPages
	}{{tagLarge, largePages(ri)}, {tagSmall, randomPages{ri.SmallBlobs, ri.SmallSize, 2}}} {
		id, err := s.Snapshot(ctx, pf.Snapshot{
			Agent:     manifest.Agent{Kind: "pf-bench", Version: "1", Fingerprint: img.tag},
			CreatedAt: time.Date(2026, 5, 5, 14, 0, i, 0, time.UTC),
			Cache:     img.pages,
		})
		if err != nil {
			return err
		}
		if _, err := s.Tag(ctx, img.tag, id); err != nil {
			return err
		}
	}
	return s.Close()
}

// largePages are the pages of the large image.
func largePages(ri RegistryImages) randomPages { return randomPages{ri.Blobs, ri.BlobSize, 1} }

// randomPages is a cache layer of n pages, each key blob size random
// bytes (the values one empty blob).
type randomPages struct {
	n    int
	size int64
	seed byte
}

func (r randomPages) CaptureCache(ctx context.Context, w pf.BlobWriter) (manifest.Cache, error) {
	src := rand.NewChaCha8([32]byte{r.seed})
	empty, err := w.PutBytes(ctx, nil)
	if err != nil {
		return manifest.Cache{}, err
	}
	var b strings.Builder
	b.WriteString(`{"layout":"paged-batchinvariant-v1","page_size_tokens":16,"n_layers":1,"n_heads":1,"head_dim":1,"dtype":"bf16","pages":[`)
	for i := range r.n {
		k, err := w.Put(ctx, io.LimitReader(src, r.size))
		if err != nil {
			return manifest.Cache{}, err
		}
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"ix":%d,"k":"%s","v":"%s"}`, i, k, empty)
	}
	b.WriteString(`],"logical_seqs":[]}`)
	d, err := w.PutBytes(ctx, []byte(b.String()))
	return manifest.Cache{Layout: manifest.DefaultCacheLayout, Manifest: d}, err
}

// pfMover runs pf push and pf pull, whole processes.
type pfMover struct {
	pf        func(store string, args ...string) (time.Duration, error)
	src, addr string
	last      string // the store of the last pull
}

func (m *pfMover) ref(tag, repo string) string { return "oci://" + m.addr + "/" + repo + ":" + tag }

func (m *pfMover) push(tag, repo string) (time.Duration, error) {
	return m.pf(m.src, "push", tag, m.ref(tag, repo))
}

func (m *pfMover) pull(tag, repo, dir string) (time.Duration, error) {
	m.last = filepath.Join(dir, "store.pf")
	if _, err := m.pf(m.last, "init"); err != nil {
		return 0, err
	}
	return m.pf(m.last, "pull", m.ref(tag, repo))
}

func (m *pfMover) pullAgain(tag, repo string) (time.Duration, error) {
	return m.pf(m.last, "pull", m.ref(tag, repo))
}

// orasMover copies with oras.Copy, in this process.
type orasMover struct {
	ctx    context.Context
	layout *oci.Store
	addr   string
	last   *oci.Store
}

func newOrasMover(ctx context.Context, layout, addr string) (*orasMover, error) {
	s, err := oci.New(layout)
	if err != nil {
		return nil, err
	}
	return &orasMover{ctx: ctx, layout: s, addr: addr}, nil
}

func (m *orasMover) repo(name string) (*remote.Repository, error) {
	r, err := remote.NewRepository(m.addr + "/" + name)
	if err != nil {
		return nil, err
	}
	r.PlainHTTP = true
	return r, nil
}

func (m *orasMover) push(tag, repo string) (time.Duration, error) {
	r, err := m.repo(repo)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	_, err = oras.Copy(m.ctx, m.layout, tag, r, tag, oras.DefaultCopyOptions)
	return time.Since(start), err
}

func (m *orasMover) pull(tag, repo, dir string) (time.Duration, error) {
	dst, err := oci.New(filepath.Join(dir, "layout"))
	if err != nil {
		return 0, err
	}
	m.last = dst
	return m.pullInto(dst, tag, repo)
}

func (m *orasMover) pullAgain(tag, repo string) (time.Duration, error) {
	return m.pullInto(m.last, tag, repo)
}

func (m *orasMover) pullInto(dst *oci.Store, tag, repo string) (time.Duration, error) {
	r, err := m.repo(repo)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	_, err = oras.Copy(m.ctx, r, tag, dst, tag, oras.DefaultCopyOptions)
	return time.Since(start), err
}

// startRegistry starts CNCF distribution's registry on loopback with its
// storage in dir; stop kills it.
func startRegistry(dir string) (s *registrytest.Server, stop func(), err error) {
	tb := &registryTB{dir: dir}
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(registryFailure)
			if !ok {
				panic(r)
			}
			tb.cleanup()
			s, stop, err = nil, nil, f.err
		}
	}()
	return registrytest.Start(tb, registrytest.Options{}), tb.cleanup, nil
}

// registryTB is what registrytest.Start needs of a test, for a job: its
// Fatalf panics with a registryFailure, which startRegistry recovers.
type registryTB struct {
	dir   string
	n     int
	funcs []func()
}

type registryFailure struct{ err error }

func (t *registryTB) Helper() {}
func (t *registryTB) Fatalf(format string, args ...any) {
	panic(registryFailure{fmt.Errorf(format, args...)})
}
func (t *registryTB) Cleanup(f func()) { t.funcs = append(t.funcs, f) }
func (t *registryTB) TempDir() string {
	t.n++
	d := filepath.Join(t.dir, fmt.Sprint(t.n))
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatalf("%v", err)
	}
	return d
}

func (t *registryTB) cleanup() {
	for i := len(t.funcs) - 1; i >= 0; i-- {
		t.funcs[i]()
	}
	t.funcs = nil
}

// pullWhy explains a large pull short of its goal from its limits in the
// same run (registry_limits.go): the slowest that pf did not beat, and
// whether it alone is under 70% of oras's pull. oras-go's OCI layout
// store writes each file with no fsync and checks each layer's digest:
// one SHA-256 of each byte, no cut, no store.
func (rep *Report) pullWhy(wl Workload, pf, oras Row) string {
	s := rep.boundWhy(wl, pf, oras, "oras-go alone", pullLimits)
	if s == "" {
		return ""
	}
	return " The pull: pf " + rate(wl, pf) + ", oras-go alone " + rate(wl, oras) +
		" (which hashes each layer once and writes it to a file with no fsync)." + s
}

// registryGoals are the issue's: push and pull at no less than 70% of
// oras-go alone, and a pull of an image whose blobs are all present moves
// only the manifest.
func (rep *Report) registryGoals() []goal {
	var out []goal
	for _, g := range []struct {
		name       string
		push, pull string
		full       bool
	}{
		{"push and pull of " + sizeName(FullSizes.Registry.bytes()) + " of random blobs ≥ 70% of oras-go alone (oras.Copy of the same OCI layout)", wlRegPush, wlRegPull, true},
		{"push and pull of many small blobs ≥ 70% of oras-go alone", wlRegPushSmall, wlRegPullSmall, false},
	} {
		var parts, short []string
		bound := ""
		for _, id := range []string{g.push, g.pull} {
			wl, ok := rep.workload(id)
			pf, or, ok2 := rep.pair(id, sysOras)
			if !ok || !ok2 {
				continue
			}
			r := speedRatio(pf, or)
			what := strings.TrimPrefix(id, "registry-")
			parts = append(parts, fmt.Sprintf("%s %.0f%% (pf %s, oras %s)", what, 100*r, rate(wl, pf), rate(wl, or)))
			if !(r >= 0.7) {
				short = append(short, what)
				if id == wlRegPull && g.full {
					bound = rep.pullWhy(wl, pf, or)
				}
			}
		}
		if len(parts) == 0 {
			continue
		}
		gl := goal{goal: g.name, measured: strings.Join(parts, ", "), verdict: judge(len(short) == 0)}
		if len(short) > 0 {
			gl.why = "oras.Copy moves the layer files as they are. pf push reads each blob out of the store file, checks it against its " +
				"digest, compresses it into its layer (zstd copies each byte twice even where it keeps it raw), hashes the layer and " +
				"spools it to a file before it uploads it: two SHA-256 of every byte and a compression pass that oras.Copy does not " +
				"make; pf pull decompresses each layer, checks the blob against its digest and stores it as any put does: cut into chunks, compressed and committed with fsyncs. On a loaded machine, " +
				"where a process gets a share of a core, the time follows that CPU." + bound
		}
		if g.full && rep.Quick {
			gl.verdict = verdictUnmeased
			gl.measured += "; the " + sizeName(FullSizes.Registry.bytes()) + " image runs only in the full run"
		}
		out = append(out, gl)
	}
	if pf, ok := rep.row(wlRegPullPresent, sysPF); ok && pf.ok() && pf.BlobFetches != nil {
		// The config (the pf manifest) and the signature are blobs too.
		n := *pf.BlobFetches
		g := goal{goal: "a pull of an image whose blobs are all present moves only the manifest",
			measured: fmt.Sprintf("%s (pf %s", plural(n, "blob fetched", "blobs fetched"), fmtDuration(pf.median())),
			verdict:  judge(n <= 2)}
		if or, ok := rep.row(wlRegPullPresent, sysOras); ok && or.ok() && !math.IsNaN(or.median()) {
			g.measured += fmt.Sprintf(", oras %s", fmtDuration(or.median()))
		}
		g.measured += "): the manifest, its config (the pf manifest) and its signature"
		if n > 2 {
			g.measured = fmt.Sprintf("%s, beyond the config and the signature", plural(n, "blob fetched", "blobs fetched"))
		}
		out = append(out, g)
	}
	return out
}
