package bench

import (
	"fmt"
	"github.com/processfork/pf/internal/fixture"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/processfork/pf/manifest"
)

// historyLimit is how many images a history query asks for.
const historyLimit = 100

// historyChains is how many agents the images of a history store belong
// to: each agent's images form a chain, each the child of the one before.
const historyChains = 256

// historyVersion names the shape of the history below; change it when
// that shape changes, so that stores cached under --out are rebuilt.
const historyVersion = 3

// historyEpoch is when the first image of a history was created; each
// next one is a second later.
var historyEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// A history is the images of a history store: n images of historyChains
// agents, created a second apart, image i the child of image i-chains.
// Every image names the same few small layer blobs (see historyLayers):
// the manifests are full size, as the query reads them, while a commit
// has few blobs to check. Every system stores the same manifest bytes.
type history struct {
	n, chains int
	layers    historyLayers
	ids       []manifest.Digest
}

// historyLayers are the layer blobs every image of a history names: one
// cache page and two files, with the fixture's small layers.
type historyLayers struct {
	blobs []fixture.Blob
	m     manifest.Manifest // the layer fields only
}

func newHistoryLayers() historyLayers {
	f := fixture.New(fixture.Options{Seed: 1})
	var l historyLayers
	random := func(name string, tag uint64) fixture.Blob {
		b := make([]byte, 1024)
		s := fixture.NewSplitMix64(fixture.Mix(0x415, tag))
		s.Fill(b)
		return fixture.NewBlob(name, b)
	}
	diff := random(manifest.LayerModelDiff, 1)
	k, v := random("cache/0000/k", 2), random("cache/0000/v", 3)
	pages := manifest.CachePages{Layout: manifest.DefaultCacheLayout, PageSizeTokens: 16, NLayers: 32, NHeads: 8, HeadDim: 128,
		Dtype: manifest.DtypeF16, Pages: []manifest.CachePage{{Ix: 0, K: k.Digest, V: v.Digest}}}
	cacheRaw, err := pages.Encode()
	if err != nil {
		panic(err)
	}
	cache := fixture.NewBlob(manifest.LayerCacheManifest, cacheRaw)
	var tree manifest.Tree
	var files []fixture.Blob
	for i := range 2 {
		b := random(fmt.Sprintf("world/src/file_%04d.rs", i), 4+uint64(i))
		files = append(files, b)
		tree.Entries = append(tree.Entries, manifest.Entry{Path: fmt.Sprintf("src/file_%04d.rs", i), Mode: 0o644,
			Size: int64(len(b.Data)), Kind: manifest.KindFile, Blob: b.Digest})
	}
	treeRaw, err := tree.Encode()
	if err != nil {
		panic(err)
	}
	fs := fixture.NewBlob(manifest.LayerWorldFS, treeRaw)
	layers := f.Layers()
	model, world := layers[0], layers[2]
	base, env, procs := model[0], world[len(world)-2], world[len(world)-1]
	ledger, trace := layers[3][0], layers[4][0]
	l.blobs = append([]fixture.Blob{base, diff, k, v, cache}, files...)
	l.blobs = append(l.blobs, fs, env, procs, ledger, trace)
	l.m.Model = manifest.Model{Base: base.Digest, Diff: diff.Digest}
	l.m.Cache = manifest.Cache{Layout: manifest.DefaultCacheLayout, Manifest: cache.Digest}
	l.m.World = manifest.World{FS: fs.Digest, Env: env.Digest, Procs: procs.Digest}
	l.m.Effects = manifest.Effects{Ledger: ledger.Digest}
	l.m.Trace = manifest.Trace{Messages: trace.Digest}
	return l
}

// newHistory returns the history of n images. Their ids (each manifest
// names its parent's) are read from idsFile when it holds them, else
// computed in order and written there, when idsFile is not "".
func newHistory(n int, idsFile string) (*history, error) {
	h := &history{n: n, chains: min(historyChains, n), layers: newHistoryLayers()}
	if idsFile != "" {
		if b, err := os.ReadFile(idsFile); err == nil && len(b) == 32*n {
			h.ids = make([]manifest.Digest, n)
			for i := range h.ids {
				copy(h.ids[i][:], b[32*i:])
			}
			return h, nil
		}
	}
	h.ids = make([]manifest.Digest, n)
	for i := range n {
		h.ids[i] = manifest.Sum(h.manifest(i))
	}
	if idsFile == "" {
		return h, nil
	}
	b := make([]byte, 0, 32*n)
	for _, id := range h.ids {
		b = append(b, id[:]...)
	}
	if err := os.MkdirAll(filepath.Dir(idsFile), 0o755); err != nil {
		return nil, err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", idsFile, os.Getpid())
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return nil, err
	}
	return h, os.Rename(tmp, idsFile)
}

// created is image i's creation time.
func (h *history) created(i int) time.Time { return historyEpoch.Add(time.Duration(i) * time.Second) }

// chain is the agent image i belongs to.
func (h *history) chain(i int) int { return i % h.chains }

// agent is the agent image i was taken of.
func (h *history) agent(i int) manifest.Agent {
	return manifest.Agent{Kind: "bench-history", Version: "1.0.0", Fingerprint: fmt.Sprintf("agent-%03d", h.chain(i))}
}

// parent is the index of image i's parent, or -1 for a root.
func (h *history) parent(i int) int {
	if i < h.chains {
		return -1
	}
	return i - h.chains
}

// manifest returns image i's manifest. The parent's id must be known:
// newHistory knows them all.
func (h *history) manifest(i int) []byte {
	var parents []manifest.Digest
	if p := h.parent(i); p >= 0 {
		parents = append(parents, h.ids[p])
	}
	m := manifest.New(h.agent(i), h.created(i), parents...)
	l := &h.layers.m
	m.Model, m.Cache, m.World, m.Effects, m.Trace = l.Model, l.Cache, l.World, l.Effects, l.Trace
	raw, err := m.Encode()
	if err != nil {
		panic(err) // every field above is valid
	}
	return raw
}

// since is the time history queries start from: the creation of the
// middle image, so that far more than historyLimit images qualify and a
// store that cannot stop early must look at all of them.
func (h *history) since() time.Time { return h.created(h.n / 2) }

// check verifies the answer to a query from since for the newest limit:
// the newest images, newest first, each with its id, creation time,
// agent and parents.
func (h *history) check(got []imageSummary, limit int) error {
	want := min(limit, h.n-h.n/2)
	if len(got) != want {
		return fmt.Errorf("history query returned %d images, want %d", len(got), want)
	}
	for k, s := range got {
		i := h.n - 1 - k
		var parents []manifest.Digest
		if p := h.parent(i); p >= 0 {
			parents = append(parents, h.ids[p])
		}
		if s.id != h.ids[i] || !s.created.Equal(h.created(i)) || s.agent != h.agent(i) || !slices.Equal(s.parents, parents) {
			return fmt.Errorf("history query: entry %d is not image %d: %+v", k, i, s)
		}
	}
	return nil
}

// historyKey names a history for the cache: the shape's version and its
// size.
func historyKey(n int) string { return fmt.Sprintf("history-v%d-%d", historyVersion, n) }
