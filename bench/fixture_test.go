package bench

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

func TestSplitMix64(t *testing.T) {
	// The first outputs for state 0, as published with the algorithm: the
	// fixture is reproducible elsewhere only if this is SplitMix64 exactly.
	s := splitMix64{0}
	for i, want := range []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f} {
		if got := s.next(); got != want {
			t.Fatalf("output %d = %#016x, want %#016x", i, got, want)
		}
	}
	var b [11]byte
	s = splitMix64{0}
	s.fill(b[:])
	if want := []byte{0xaf, 0xcd, 0x1d, 0x7b, 0x39, 0xa8, 0x20, 0xe2, 0xf4, 0x65, 0xb9}; !bytes.Equal(b[:], want) {
		t.Errorf("fill = % x, want % x", b, want)
	}
}

func digests(f *Fixture) map[string]manifest.Digest {
	m := map[string]manifest.Digest{}
	for _, b := range f.Blobs() {
		m[b.Name] = b.Digest
	}
	return m
}

func TestFixtureDeterministic(t *testing.T) {
	for _, opts := range []FixtureOptions{{Seed: 1}, {Seed: 7, Fork: 3, Differ: 1.0 / 8}} {
		a, b := NewFixture(opts), NewFixture(opts)
		ab, bb := a.Blobs(), b.Blobs()
		if len(ab) != len(bb) {
			t.Fatalf("%+v: %d blobs, then %d", opts, len(ab), len(bb))
		}
		for i := range ab {
			if ab[i].Name != bb[i].Name || ab[i].Digest != bb[i].Digest || manifest.Sum(ab[i].Data) != ab[i].Digest {
				t.Errorf("%+v: blob %d is %s %s, then %s %s", opts, i, ab[i].Name, ab[i].Digest, bb[i].Name, bb[i].Digest)
			}
		}
		if a.Agent() != b.Agent() {
			t.Errorf("%+v: agent %+v, then %+v", opts, a.Agent(), b.Agent())
		}
	}

	// Another seed shares only the seed-independent markers.
	one, two := digests(NewFixture(FixtureOptions{Seed: 1})), digests(NewFixture(FixtureOptions{Seed: 2}))
	for name, d := range one {
		shared := name == manifest.LayerModelBase || name == manifest.LayerWorldProcs
		if (two[name] == d) != shared {
			t.Errorf("seeds 1 and 2: %s shared = %v, want %v", name, two[name] == d, shared)
		}
	}
	if NewFixture(FixtureOptions{Seed: 1}).Agent() == NewFixture(FixtureOptions{Seed: 2}).Agent() {
		t.Error("seeds 1 and 2 have the same agent fingerprint")
	}
}

// TestFixtureGolden pins the fixture's bytes: results measured on one
// commit can be set beside another's only if the workload did not change.
func TestFixtureGolden(t *testing.T) {
	d := digests(NewFixture(FixtureOptions{Seed: 1}))
	for name, want := range map[string]string{
		"cache/0000/k":              "sha256:244e3e8e1d35fb302aed04483f02bf4074382768161837573d218f2a903117ea",
		"world/src/file_0063.rs":    "sha256:c671f5bd74daecb1da29f720d37b86c4543c35ecfaee0c742c050fe679f4f98a",
		manifest.LayerModelDiff:     "sha256:f86e951b50f2d0031544b13c0641aa08fa2dd6474cf5eeb879fe3c836cb7bae8",
		manifest.LayerCacheManifest: "sha256:8a07914655a92bc6bb056a2cf0707982cbd230d2acc8df6524338c256f44d117",
		manifest.LayerWorldFS:       "sha256:c8fe8103c718d05b8ae44791ee86a3c922c4dc1a97b1473a3b66bbbf7f8f1d83",
		manifest.LayerWorldEnv:      "sha256:e9f03f7afe558e637a981317322ab3d386a17aa45cec856614c15b2f1d0812fe",
		manifest.LayerEffectsLedger: "sha256:100eecddbb582a1d09d055ea73d69472defdbf02bee9de0b23eb1e843a66a293",
		manifest.LayerTraceMessages: "sha256:e6cb77e167ca5c8f65a35f1066436677f40b79ba9759e37b4f3ff4388614c466",
	} {
		if got := d[name].String(); got != want {
			t.Errorf("seed 1 %s = %s, want %s", name, got, want)
		}
	}
}

func TestFixtureBytes(t *testing.T) {
	f := NewFixture(FixtureOptions{Seed: 1})
	var sum int64
	names := map[string]bool{}
	for _, b := range f.Blobs() {
		sum += int64(len(b.Data))
		if names[b.Name] {
			t.Errorf("two blobs named %s", b.Name)
		}
		names[b.Name] = true
	}
	if f.Bytes() != sum {
		t.Errorf("Bytes() = %d, the blobs add up to %d", f.Bytes(), sum)
	}
	if n := f.Bytes(); n < 1_300_000 || n > 1_450_000 {
		t.Errorf("Bytes() = %d, want about 1.38 MB (1.3 to 1.45 MB)", n)
	}
	if want := 2 + 2*FixturePages + 1 + FixtureFiles + 3 + 1 + 1; len(f.Blobs()) != want {
		t.Errorf("%d blobs, want %d", len(f.Blobs()), want)
	}
	t.Logf("fixture: %d blobs, %d bytes", len(f.Blobs()), f.Bytes())
}

// wantDiffer lists the blobs a fork changes: the first ceil(differ × n)
// pages (K and V) and files, and the page manifest and tree naming them.
func wantDiffer(differ float64) map[string]bool {
	want := map[string]bool{}
	f := &Fixture{opts: FixtureOptions{Fork: 1, Differ: differ}}
	np, nf := f.differing(FixturePages), f.differing(FixtureFiles)
	for i := range np {
		want[fmt.Sprintf("cache/%04d/k", i)] = true
		want[fmt.Sprintf("cache/%04d/v", i)] = true
	}
	for i := range nf {
		want[fmt.Sprintf("world/src/file_%04d.rs", i)] = true
	}
	if np > 0 {
		want[manifest.LayerCacheManifest] = true
	}
	if nf > 0 {
		want[manifest.LayerWorldFS] = true
	}
	return want
}

func TestFixtureForks(t *testing.T) {
	base := digests(NewFixture(FixtureOptions{Seed: 1}))
	if n := len(wantDiffer(1.0 / 8)); n != 2*4+8+2 {
		t.Fatalf("Differ 1/8 changes %d blobs, want 18 (4 pages, 8 files, 2 manifests)", n)
	}
	for _, differ := range []float64{0, 1.0 / 8, 0.1, 1} {
		want := wantDiffer(differ)
		forks := map[manifest.Digest]string{}
		for k := 1; k <= 3; k++ {
			fork := digests(NewFixture(FixtureOptions{Seed: 1, Fork: k, Differ: differ}))
			if len(fork) != len(base) {
				t.Fatalf("differ %v fork %d: %d blobs, base has %d", differ, k, len(fork), len(base))
			}
			for name, d := range fork {
				if got := d != base[name]; got != want[name] {
					t.Errorf("differ %v fork %d: %s differs from the base = %v, want %v", differ, k, name, got, want[name])
				}
				if want[name] {
					// Forks differ from each other too, not only from the base.
					if other, ok := forks[d]; ok {
						t.Errorf("differ %v: fork %d's %s is %s", differ, k, name, other)
					}
					forks[d] = fmt.Sprintf("fork %d's %s", k, name)
				}
			}
		}
	}
}

func TestFixtureSnapshotReadsBack(t *testing.T) {
	ctx := t.Context()
	s, err := pf.Open(filepath.Join(t.TempDir(), "s.pf"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := NewFixture(FixtureOptions{Seed: 1})
	base, err := s.Snapshot(ctx, f.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	fork := NewFixture(FixtureOptions{Seed: 1, Fork: 1, Differ: 1.0 / 8})
	id, err := s.Snapshot(ctx, fork.Snapshot(base))
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Image(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	m := img.Manifest
	if m.Agent != fork.Agent() || len(m.Parents) != 1 || m.Parents[0] != base {
		t.Errorf("image agent %+v parents %v, want %+v [%s]", m.Agent, m.Parents, fork.Agent(), base)
	}
	if m.Model != fork.model.part || m.Cache != fork.cache.part || m.World != fork.world.part ||
		m.Effects != fork.effects.part || m.Trace != fork.trace.part {
		t.Errorf("image layers %+v, want the fixture's", m.Layers())
	}
	for _, b := range fork.Blobs() {
		got, err := s.Blobs().Get(ctx, b.Digest)
		if err != nil {
			t.Errorf("get %s: %v", b.Name, err)
		} else if !bytes.Equal(got, b.Data) {
			t.Errorf("get %s: %d bytes that differ from the %d put", b.Name, len(got), len(b.Data))
		}
	}

	fs, err := s.Blobs().Get(ctx, m.World.FS)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := manifest.DecodeTree(fs)
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.Entries) != FixtureFiles || tree.Entries[7].Path != "src/file_0007.rs" || tree.Entries[7].Mode != 0o644 {
		t.Errorf("tree has %d entries, the 8th %+v", len(tree.Entries), tree.Entries[min(7, len(tree.Entries)-1)])
	}
	cm, err := s.Blobs().Get(ctx, m.Cache.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	pages, err := manifest.DecodeCachePages(cm)
	if err != nil {
		t.Fatal(err)
	}
	if len(pages.Pages) != FixturePages || pages.Layout != manifest.DefaultCacheLayout || pages.PageSizeTokens != 16 {
		t.Errorf("cache manifest: layout %q, %d tokens a page, %d pages", pages.Layout, pages.PageSizeTokens, len(pages.Pages))
	}

	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The base's blobs and the fork's 18 changed ones: every layer has a
	// capture, so no empty blob is stored for a missing one.
	if want := int64(len(f.Blobs()) + 18); st.Images != 2 || st.Blobs != want {
		t.Errorf("stats: %d images, %d blobs; want 2, %d", st.Images, st.Blobs, want)
	}
}
