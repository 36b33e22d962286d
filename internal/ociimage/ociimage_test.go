package ociimage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/internal/ociimage"
	"github.com/processfork/pf/internal/transfer/transfertest"
	"github.com/processfork/pf/manifest"
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The signature files of testdata, made as the reference's sign.rs makes
// them, are what Sign writes, and Verify takes them.
func TestSign_MatchesTheReference(t *testing.T) {
	raw := read(t, "manifest.json")
	for _, tt := range []struct{ key, file string }{
		{"", "manifest.json.sig"},
		{ociimage.DefaultSignKey, "manifest.json.sig"},
		{"key-a", "manifest.json.sig-key-a"},
	} {
		want := read(t, tt.file)
		if got := ociimage.Sign(raw, tt.key); !bytes.Equal(got, want) {
			t.Errorf("key %q: Sign = %s, want %s", tt.key, got, want)
		}
		if err := ociimage.Verify(raw, want, tt.key); err != nil {
			t.Errorf("key %q: Verify: %v", tt.key, err)
		}
	}
}

func TestVerify_Refuses(t *testing.T) {
	raw := read(t, "manifest.json")
	sig := read(t, "manifest.json.sig")
	for _, tt := range []struct {
		name      string
		raw, sig  []byte
		key, want string
	}{
		{"tampered manifest", append(bytes.Clone(raw), ' '), sig, "", "hashes to"},
		{"other key", raw, sig, "key-b", "does not hold"},
		{"unknown algorithm", raw, bytes.Replace(sig, []byte("hmac-sha256"), []byte("cosign-key"), 1), "", `algorithm "cosign-key"`},
		{"not JSON", raw, []byte("sig"), "", "not the reference's signature file"},
		{"signature not hex", raw, bytes.Replace(sig, []byte(`"signature":"1d`), []byte(`"signature":"zz`), 1), "", "does not hold"},
	} {
		err := ociimage.Verify(tt.raw, tt.sig, tt.key)
		if !errors.Is(err, pf.ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want ErrCorrupt saying %q", tt.name, err, tt.want)
		}
	}
}

func TestParse_ReadsWhatNewBuilds(t *testing.T) {
	raw := read(t, "manifest.json")
	sig := ociimage.Sign(raw, "")
	layers := []ociimage.Layer{
		{Blob: manifest.Sum([]byte("a")), Digest: manifest.Sum([]byte("za")), Size: 10},
		{Blob: manifest.Sum([]byte("b")), Digest: manifest.Sum([]byte("zb")), Size: 20},
	}
	b := ociimage.New(raw, sig, layers).Encode()
	if !bytes.HasPrefix(b, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.processfork.image.v1+json","size":`)) {
		t.Fatalf("encoding: %s", b)
	}
	p, err := ociimage.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != manifest.Sum(raw) || p.Signature.DigestOf() != manifest.Sum(sig) || len(p.Layers) != 2 || p.Layers[1] != layers[1] {
		t.Fatalf("parsed: %+v", p)
	}
}

func TestParse_Refuses(t *testing.T) {
	raw := read(t, "manifest.json")
	good := string(ociimage.New(raw, ociimage.Sign(raw, ""), []ociimage.Layer{{Blob: manifest.EmptyDigest, Digest: manifest.EmptyDigest}}).Encode())
	for _, tt := range []struct{ name, from, to, want string }{
		{"a container image", ociimage.MediaTypeConfig, "application/vnd.oci.image.config.v1+json", "config media type"},
		{"an index", `"mediaType":"application/vnd.oci.image.manifest.v1+json"`, `"mediaType":"application/vnd.oci.image.index.v1+json"`, "manifest media type"},
		{"schema 1", `"schemaVersion":2`, `"schemaVersion":1`, "schemaVersion 1"},
		{"no signature", ociimage.MediaTypeSignature, "application/octet-stream", "no signature layer"},
		{"a layer path that names no blob", `blobs/sha256/e3/`, `blobs/sha256/ff/`, "not blobs/sha256"},
		{"md5", `"digest":"sha256:e3`, `"digest":"md5:e3`, "md5"},
	} {
		_, err := ociimage.Parse([]byte(strings.Replace(good, tt.from, tt.to, 1)))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error saying %q", tt.name, err, tt.want)
		}
	}
	if _, err := ociimage.Parse([]byte(strings.Replace(good, ociimage.MediaTypeConfig, "x", 1))); !errors.Is(err, ociimage.ErrNotPF) {
		t.Errorf("another config media type: %v, want ErrNotPF", err)
	}
}

func TestLayerPath(t *testing.T) {
	d := manifest.Sum([]byte("x"))
	p := ociimage.LayerPath(d)
	if p != "blobs/sha256/"+d.Hex()[:2]+"/"+d.Hex()+".zst" {
		t.Fatal(p)
	}
	if got, err := ociimage.ParseLayerPath(p); err != nil || got != d {
		t.Fatalf("ParseLayerPath(%q) = %s, %v", p, got, err)
	}
	for _, bad := range []string{"", "manifest.json", "blobs/sha256/" + d.Hex() + ".zst", "blobs/sha256/xx/" + d.Hex() + ".zst", "blobs/sha256/" + d.Hex()[:2] + "/" + strings.ToUpper(d.Hex()) + ".zst"} {
		if _, err := ociimage.ParseLayerPath(bad); err == nil {
			t.Errorf("ParseLayerPath(%q) succeeded", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	raw, _ := os.ReadFile("testdata/manifest.json")
	f.Add(ociimage.New(raw, ociimage.Sign(raw, ""), []ociimage.Layer{{Blob: manifest.EmptyDigest, Digest: manifest.EmptyDigest, Size: 13}}).Encode())
	f.Add([]byte(`{"schemaVersion":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ociimage.Parse(b)
		if err != nil {
			return
		}
		if p.ID.IsZero() || p.Signature.Digest == "" {
			t.Fatalf("parsed without an id or a signature: %+v", p)
		}
		for _, l := range p.Layers {
			if ociimage.LayerPath(l.Blob) == "" || l.Size < 0 {
				t.Fatalf("layer %+v", l)
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	raw, _ := os.ReadFile("testdata/manifest.json")
	sig, _ := os.ReadFile("testdata/manifest.json.sig")
	f.Add(raw, sig)
	f.Fuzz(func(t *testing.T, raw, sig []byte) {
		if ociimage.Verify(raw, sig, "") != nil {
			return
		}
		// What verifies carries the fields Sign writes, however spelled.
		var got, want ociimage.Signature
		if json.Unmarshal(sig, &got) != nil || json.Unmarshal(ociimage.Sign(raw, ""), &want) != nil {
			t.Fatal("verified a signature that does not parse")
		}
		if !strings.EqualFold(got.Signature, want.Signature) || got.ManifestDigest != want.ManifestDigest {
			t.Fatalf("verified %+v, the signature is %+v", got, want)
		}
	})
}

// Describe builds the form a push writes: the same manifest, and Open
// serves each blob it names with the bytes of its digest.
func TestDescribe_ServesWhatItNames(t *testing.T) {
	s, im := transfertest.NewHistory(t)
	d, err := ociimage.Describe(context.Background(), s, im.Fork, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ociimage.Parse(d.Manifest)
	if err != nil || p.ID != im.Fork {
		t.Fatalf("parse: %v, %v", p, err)
	}
	blobs, _ := s.Reached(context.Background(), im.Fork)
	if len(p.Layers) != len(blobs) {
		t.Fatalf("%d layers for %d blobs", len(p.Layers), len(blobs))
	}
	for _, desc := range append([]ociimage.Descriptor{p.Config, p.Signature}, p.Manifest.Layers[1:]...) {
		r, size, err := d.Open(context.Background(), s, desc.DigestOf())
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil || int64(len(b)) != size || size != desc.Size || manifest.Sum(b) != desc.DigestOf() {
			t.Fatalf("%s: %d bytes of %d, %v", desc.Digest, len(b), desc.Size, err)
		}
	}
}
