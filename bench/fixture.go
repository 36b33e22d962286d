package bench

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// The shape of the reference's synthetic fixture (pfimg-v1.md).
const (
	FixturePages     = 32       // KV-cache pages, each a K and a V blob
	FixturePageBytes = 16 << 10 // bytes of one K or V blob
	FixtureFiles     = 64       // files of the world.fs tree
	FixtureFileBytes = 4 << 10  // bytes of one file
	FixtureDiffBytes = 64 << 10 // bytes of the model diff
	fixtureEntries   = 16       // effects ledger entries
	fixtureMessages  = 16       // trace messages
)

// Tags that keep the SplitMix64 streams of the fixture's items apart.
const (
	tagAgent uint64 = 1 + iota
	tagModelDiff
	tagCacheK
	tagCacheV
	tagFile
	tagLedger
	tagTrace
)

// fixtureEpoch is the clock of the fixture's ledger and trace, fixed so
// that they do not depend on when the fixture is built.
var fixtureEpoch = time.Date(2026, 5, 5, 14, 11, 0, 0, time.UTC)

// FixtureOptions select one fixture.
type FixtureOptions struct {
	// Seed mixes into every payload: fixtures of different seeds share
	// nothing but the model base marker and the procs blob.
	Seed uint64
	// Fork selects a variant: 0 is the base. For a fork k > 0, the first
	// ceil(Differ × n) of the n cache pages (both K and V) and of the n
	// files have content that depends on k; every other blob is
	// byte-identical to the base's, except the cache page manifest and the
	// tree, which name the changed blobs. The same pages and files differ
	// in every fork, as when forks of one agent diverge after a common
	// prefix, and two forks differ from each other in all of them.
	Fork int
	// Differ is the share of pages and files a fork changes, 0 to 1. Zero
	// means none: such a fork has the base's content.
	Differ float64
}

// A Blob is one blob a fixture's snapshot puts.
type Blob struct {
	// Name says where the blob sits in the image: "model.base",
	// "model.diff", "cache/0003/k", "cache.manifest",
	// "world/src/file_0007.rs", "world.fs", "world.env", "world.procs",
	// "effects.ledger", "trace.messages".
	Name   string
	Digest manifest.Digest
	Data   []byte // shared with the fixture: do not modify
}

// layer is one layer of a fixture: its blobs, in the order the capture
// puts them, and its part of the manifest.
type layer[T any] struct {
	part  T
	blobs []Blob
}

// capture puts the layer's blobs and returns its part. It checks each
// digest the store returns against the one computed when the fixture was
// built: a store that named a blob wrongly would otherwise pass unnoticed.
func (l *layer[T]) capture(ctx context.Context, w pf.BlobWriter) (T, error) {
	data := make([][]byte, len(l.blobs))
	for i, b := range l.blobs {
		data[i] = b.Data
	}
	digests, err := pf.PutAll(ctx, w, data)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("put %s: %w", l.blobs[0].Name, err)
	}
	for i, b := range l.blobs {
		if d := digests[i]; d != b.Digest {
			var zero T
			return zero, fmt.Errorf("put %s: store says %s, the bytes hash to %s", b.Name, d, b.Digest)
		}
	}
	return l.part, nil
}

// A Fixture is the reference's synthetic fixture: five layers of about
// 1.4 MB of blobs in all, built once by NewFixture so that benchmarks time
// only the store.
//
//   - model: a small JSON marker naming the base weights (the same for
//     every seed, as a base model is shared) and a 64 KiB diff of
//     SplitMix64 bytes;
//   - cache: 32 pages, each a 16 KiB K blob and a 16 KiB V blob of
//     SplitMix64 bytes, and the page manifest (paged-batchinvariant-v1);
//   - world: 64 files src/file_NNNN.rs of 4 KiB of SplitMix64 bytes in an
//     fs.tree.v1 tree, an env.v1 environment and a procs.unsupported.v1
//     process state;
//   - effects: a JSON-lines ledger of 16 tool calls after its header;
//   - trace: 16 JSON-lines messages.
//
// The bytes of page i's K half come from a SplitMix64 stream seeded by
// mixing, in turn, Seed, the K tag, i, and the fork number if the page
// differs in this fork or 0 if it does not (see mix); V halves, files and
// the model diff alike, each with its own tag. A Fixture is read-only and
// safe for concurrent use.
type Fixture struct {
	opts    FixtureOptions
	agent   manifest.Agent
	model   layer[manifest.Model]
	cache   layer[manifest.Cache]
	world   layer[manifest.World]
	effects layer[manifest.Effects]
	trace   layer[manifest.Trace]
	bytes   int64
}

// NewFixture builds the fixture opts select. It panics if Fork is negative
// or Differ is outside 0 to 1.
func NewFixture(opts FixtureOptions) *Fixture {
	if opts.Fork < 0 {
		panic(fmt.Sprintf("bench: fixture fork %d is negative", opts.Fork))
	}
	if !(opts.Differ >= 0 && opts.Differ <= 1) {
		panic(fmt.Sprintf("bench: fixture differ %v is outside 0 to 1", opts.Differ))
	}
	f := &Fixture{
		opts: opts,
		agent: manifest.Agent{
			Kind:        "fixture",
			Version:     "1.0.0",
			Fingerprint: fmt.Sprintf("%016x", mix(opts.Seed, tagAgent)),
		},
	}
	f.buildModel()
	f.buildCache()
	f.buildWorld()
	f.buildEffects()
	f.buildTrace()
	for _, b := range f.Blobs() {
		f.bytes += int64(len(b.Data))
	}
	return f
}

// Bytes is the total size of the fixture's blobs.
func (f *Fixture) Bytes() int64 { return f.bytes }

// Agent is the fixture's agent: kind "fixture", version "1.0.0" and a
// fingerprint derived from the seed.
func (f *Fixture) Agent() manifest.Agent { return f.agent }

// Blobs lists every blob a snapshot of the fixture puts, layer by layer in
// manifest order. The empty blob the store puts for itself is not among
// them.
func (f *Fixture) Blobs() []Blob {
	return slices.Concat(f.model.blobs, f.cache.blobs, f.world.blobs, f.effects.blobs, f.trace.blobs)
}

// Snapshot returns the description of an image of the fixture with the
// given parents. Its CreatedAt is zero (the time of the snapshot); set it
// to choose the image id.
func (f *Fixture) Snapshot(parents ...manifest.Digest) pf.Snapshot {
	c := fixtureCapture{f}
	return pf.Snapshot{
		Agent:   f.agent,
		Parents: slices.Clone(parents),
		Model:   c,
		Cache:   c,
		World:   c,
		Effects: c,
		Trace:   c,
	}
}

// fixtureCapture implements the five capture interfaces of pf for a
// fixture.
type fixtureCapture struct{ f *Fixture }

func (c fixtureCapture) CaptureModel(ctx context.Context, w pf.BlobWriter) (manifest.Model, error) {
	return c.f.model.capture(ctx, w)
}

func (c fixtureCapture) CaptureCache(ctx context.Context, w pf.BlobWriter) (manifest.Cache, error) {
	return c.f.cache.capture(ctx, w)
}

func (c fixtureCapture) CaptureWorld(ctx context.Context, w pf.BlobWriter) (manifest.World, error) {
	return c.f.world.capture(ctx, w)
}

func (c fixtureCapture) CaptureEffects(ctx context.Context, w pf.BlobWriter) (manifest.Effects, error) {
	return c.f.effects.capture(ctx, w)
}

func (c fixtureCapture) CaptureTrace(ctx context.Context, w pf.BlobWriter) (manifest.Trace, error) {
	return c.f.trace.capture(ctx, w)
}

// differing returns how many of n items differ from the base in this
// fixture: ceil(Differ × n) for a fork, none for the base. The tolerance
// keeps a product such as 0.7 × 10 = 7.000000000000001 from rounding up.
func (f *Fixture) differing(n int) int {
	if f.opts.Fork == 0 {
		return 0
	}
	return int(math.Ceil(f.opts.Differ*float64(n) - 1e-9))
}

// random returns n SplitMix64 bytes for item ix of the stream tag; fork is
// the fork number when the item differs from the base, else 0.
func (f *Fixture) random(tag uint64, ix, fork, n int) []byte {
	s := splitMix64{mix(mix(mix(f.opts.Seed, tag), uint64(ix)), uint64(fork))}
	b := make([]byte, n)
	s.fill(b)
	return b
}

func newBlob(name string, data []byte) Blob {
	return Blob{Name: name, Digest: manifest.Sum(data), Data: data}
}

// mustJSON encodes v, which is built here and cannot fail to encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (f *Fixture) buildModel() {
	base := newBlob(manifest.LayerModelBase, []byte(`{"kind":"model.base.v1","name":"fixture-base"}`))
	diff := newBlob(manifest.LayerModelDiff, f.random(tagModelDiff, 0, 0, FixtureDiffBytes))
	f.model = layer[manifest.Model]{
		part:  manifest.Model{Base: base.Digest, Diff: diff.Digest},
		blobs: []Blob{base, diff},
	}
}

func (f *Fixture) buildCache() {
	nd := f.differing(FixturePages)
	pages := manifest.CachePages{
		Layout:         manifest.DefaultCacheLayout,
		PageSizeTokens: 16,
		NLayers:        32,
		NHeads:         8,
		HeadDim:        128,
		Dtype:          "fp16",
		Pages:          make([]manifest.CachePage, FixturePages),
	}
	blobs := make([]Blob, 0, 2*FixturePages+1)
	for i := range FixturePages {
		fork := 0
		if i < nd {
			fork = f.opts.Fork
		}
		k := newBlob(fmt.Sprintf("cache/%04d/k", i), f.random(tagCacheK, i, fork, FixturePageBytes))
		v := newBlob(fmt.Sprintf("cache/%04d/v", i), f.random(tagCacheV, i, fork, FixturePageBytes))
		pages.Pages[i] = manifest.CachePage{Ix: i, K: k.Digest, V: v.Digest}
		blobs = append(blobs, k, v)
	}
	raw, err := pages.Encode()
	if err != nil {
		panic(err) // the fields above are valid
	}
	m := newBlob(manifest.LayerCacheManifest, raw)
	f.cache = layer[manifest.Cache]{
		part:  manifest.Cache{Layout: manifest.DefaultCacheLayout, Manifest: m.Digest},
		blobs: append(blobs, m),
	}
}

func (f *Fixture) buildWorld() {
	nd := f.differing(FixtureFiles)
	var tree manifest.Tree
	blobs := make([]Blob, 0, FixtureFiles+3)
	for i := range FixtureFiles {
		fork := 0
		if i < nd {
			fork = f.opts.Fork
		}
		path := fmt.Sprintf("src/file_%04d.rs", i)
		b := newBlob("world/"+path, f.random(tagFile, i, fork, FixtureFileBytes))
		tree.Entries = append(tree.Entries, manifest.Entry{
			Path: path, Mode: 0o644, Size: FixtureFileBytes, Kind: manifest.KindFile, Blob: b.Digest,
		})
		blobs = append(blobs, b)
	}
	raw, err := tree.Encode()
	if err != nil {
		panic(err) // the entries above are valid
	}
	fs := newBlob(manifest.LayerWorldFS, raw)
	env := newBlob(manifest.LayerWorldEnv, mustJSON(struct {
		Kind string            `json:"kind"`
		Cwd  string            `json:"cwd"`
		Vars map[string]string `json:"vars"`
	}{
		Kind: "env.v1",
		Cwd:  "/work",
		Vars: map[string]string{
			"HOME":            "/home/agent",
			"LANG":            "C.UTF-8",
			"PATH":            "/usr/local/bin:/usr/bin:/bin",
			"PF_FIXTURE_SEED": strconv.FormatUint(f.opts.Seed, 10),
		},
	}))
	procs := newBlob(manifest.LayerWorldProcs, []byte(`{"kind":"procs.unsupported.v1"}`))
	f.world = layer[manifest.World]{
		part:  manifest.World{FS: fs.Digest, Env: env.Digest, Procs: procs.Digest},
		blobs: append(blobs, fs, env, procs),
	}
}

// ledgerEntry is one line of an effects.ledger.v1 ledger, fields in the
// order the reference writes them.
type ledgerEntry struct {
	TS              string `json:"ts"`
	ToolID          string `json:"tool_id"`
	ArgsHash        string `json:"args_hash"`
	IdempotencyKey  string `json:"idempotency_key"`
	ResultHash      string `json:"result_hash"`
	SideEffectClass string `json:"side_effect_class"`
	SessionHMAC     string `json:"session_hmac"`
}

// fixtureTools are the ledger's tools, each with its side-effect class.
var fixtureTools = [...]struct{ id, class string }{
	{"read_file", "pure"},
	{"grep", "pure"},
	{"write_file", "idempotent"},
	{"cargo_test", "idempotent"},
	{"http_get", "network-only"},
	{"git_push", "irreversible"},
}

func (f *Fixture) buildEffects() {
	s := splitMix64{mix(mix(f.opts.Seed, tagLedger), 0)}
	hexBytes := func(n int) string {
		b := make([]byte, n)
		s.fill(b)
		return hex.EncodeToString(b)
	}
	// The session key is one per ledger; each entry's HMAC differs.
	session := hexBytes(8)
	ledger := fmt.Appendf(nil, `{"kind":%q,"entries":%d}`+"\n", manifest.LedgerKind, fixtureEntries)
	for i := range fixtureEntries {
		tool := fixtureTools[s.next()%uint64(len(fixtureTools))]
		ledger = append(ledger, mustJSON(ledgerEntry{
			TS:              manifest.FormatTime(fixtureEpoch.Add(time.Duration(i) * 1500 * time.Millisecond)),
			ToolID:          tool.id,
			ArgsHash:        "sha256:" + hexBytes(32),
			IdempotencyKey:  session + "-" + strconv.Itoa(i),
			ResultHash:      "sha256:" + hexBytes(32),
			SideEffectClass: tool.class,
			SessionHMAC:     hexBytes(32),
		})...)
		ledger = append(ledger, '\n')
	}
	b := newBlob(manifest.LayerEffectsLedger, ledger)
	f.effects = layer[manifest.Effects]{part: manifest.Effects{Ledger: b.Digest}, blobs: []Blob{b}}
}

func (f *Fixture) buildTrace() {
	s := splitMix64{mix(mix(f.opts.Seed, tagTrace), 0)}
	roles := [...]string{"user", "assistant", "tool", "assistant"}
	var trace []byte
	for i := range fixtureMessages {
		file := s.next() % FixtureFiles
		var content string
		switch role := roles[i%len(roles)]; role {
		case "user":
			content = fmt.Sprintf("Step %d: the test in src/file_%04d.rs fails; please fix it.", i, file)
		case "tool":
			content = fmt.Sprintf("read src/file_%04d.rs: %d bytes, checksum %08x", file, FixtureFileBytes, uint32(s.next()))
		default:
			content = fmt.Sprintf("Reading src/file_%04d.rs to find the failing assertion (step %d).", file, i)
		}
		trace = append(trace, mustJSON(struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		}{roles[i%len(roles)], content})...)
		trace = append(trace, '\n')
	}
	b := newBlob(manifest.LayerTraceMessages, trace)
	f.trace = layer[manifest.Trace]{part: manifest.Trace{Messages: b.Digest}, blobs: []Blob{b}}
}
