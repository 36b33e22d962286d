package manifest

import (
	"errors"
	"reflect"
	"testing"
)

func TestRefs(t *testing.T) {
	tree := readGolden(t, "tree.json")
	cache := readGolden(t, "cache-pages.json")
	a, b, c := Sum([]byte("a")), Sum([]byte("b")), Sum([]byte("c"))
	merged, _ := (&MergedEffects{ParentA: a, ParentB: b, Ancestor: c}).Encode()
	mergedSame, _ := (&MergedEffects{ParentA: a, ParentB: a, Ancestor: a}).Encode()
	ledger := []byte("{\"kind\":\"effects.ledger.v1\",\"entries\":1}\n{\"ts\":1}\n")
	dupTree, err := (&Tree{Entries: []Entry{
		{Path: "a", Mode: 0o644, Kind: KindFile, Blob: a},
		{Path: "b", Mode: 0o644, Kind: KindFile, Blob: a},
		{Path: "d", Mode: 0o755, Kind: KindDir},
	}}).Encode()
	if err != nil {
		t.Fatal(err)
	}

	// Blobs whose digests share their first 8 bytes, and differ after.
	x, y := Sum([]byte("x")), Sum([]byte("x"))
	y[31] ^= 1
	sharedTree, err := (&Tree{Entries: []Entry{
		{Path: "a", Mode: 0o644, Kind: KindFile, Blob: x},
		{Path: "b", Mode: 0o644, Kind: KindFile, Blob: y},
		{Path: "c", Mode: 0o644, Kind: KindFile, Blob: x},
		{Path: "d", Mode: 0o644, Kind: KindFile, Blob: y},
		{Path: "e", Mode: 0o644, Kind: KindFile, Blob: a},
	}}).Encode()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		layer   string
		blob    []byte
		want    []Digest
		wantErr error
	}{
		{"tree", LayerWorldFS, tree, []Digest{
			Sum([]byte("hello\n")), Sum([]byte("#!/bin/sh\n")), EmptyDigest, Sum([]byte("a.rs")), Sum([]byte("abc")),
		}, nil},
		{"tree, same blob twice", LayerWorldFS, dupTree, []Digest{a}, nil},
		{"tree, blobs sharing their first bytes", LayerWorldFS, sharedTree, []Digest{x, y, a}, nil},
		{"empty tree", LayerWorldFS, []byte(`{"kind":"fs.tree.v1","entries":[]}`), nil, nil},
		{"fs opaque", LayerWorldFS, []byte("ustar\x00"), nil, nil},
		{"fs empty", LayerWorldFS, nil, nil, nil},
		{"fs other kind", LayerWorldFS, []byte(`{"kind":"fs.tar.v1","blob":"x"}`), nil, nil},
		{"bad tree", LayerWorldFS, []byte(`{"kind":"fs.tree.v1","entries":[{"path":"/a"}]}`), nil, ErrInvalidTree},
		{"cache", LayerCacheManifest, cache, []Digest{
			Sum([]byte("k0")), Sum([]byte("v0")), Sum([]byte("k1")), Sum([]byte("v1")),
		}, nil},
		{"cache empty", LayerCacheManifest, nil, nil, nil},
		{"cache without pages", LayerCacheManifest, []byte(`{"layout":"none"}`), nil, nil},
		{"bad cache", LayerCacheManifest, []byte(`{"layout":"l","pages":[{"ix":0}]}`), nil, ErrInvalidCache},
		{"merged", LayerEffectsLedger, merged, []Digest{a, b, c}, nil},
		{"merged, same ledger", LayerEffectsLedger, mergedSame, []Digest{a}, nil},
		{"ledger", LayerEffectsLedger, ledger, nil, nil},
		{"ledger empty", LayerEffectsLedger, nil, nil, nil},
		{"bad merged", LayerEffectsLedger, []byte(`{"kind":"effects.merged.v1"}`), nil, ErrInvalidEffects},
		{"tree at another layer", LayerWorldEnv, tree, nil, nil},
		{"merged at another layer", LayerTraceMessages, merged, nil, nil},
		{"model", LayerModelDiff, cache, nil, nil},
		{"unknown layer", "nope", tree, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Refs(tt.layer, tt.blob)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || got != nil {
					t.Fatalf("Refs = %v, %v; want error %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Refs = %v, want %v", got, tt.want)
			}
			if len(got) > 0 && !NeedsContent(tt.layer) {
				t.Errorf("Refs named blobs but NeedsContent(%s) = false", tt.layer)
			}
		})
	}
}

func TestNeedsContent(t *testing.T) {
	m := new(Manifest)
	for _, l := range m.Layers() {
		want := l.Name == "world.fs" || l.Name == "cache.manifest" || l.Name == "effects.ledger"
		if got := NeedsContent(l.Name); got != want {
			t.Errorf("NeedsContent(%s) = %v", l.Name, got)
		}
	}
	if NeedsContent("") || NeedsContent("world") {
		t.Error("NeedsContent of a non-layer")
	}
}
