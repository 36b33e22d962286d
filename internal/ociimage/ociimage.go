// Package ociimage is the reference implementation's OCI form of a pf
// image, which its oci:// registry pushes and pulls, and which pf writes to
// registries and OCI image layouts (pf-registry/src/oci/live.rs in the
// reference's repository; docs/format.md):
//
//	{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
//	 "config":{"mediaType":"application/vnd.processfork.image.v1+json",
//	           "size":…,"digest":"sha256:<image id>"},
//	 "layers":[
//	   {"mediaType":"application/vnd.processfork.signature.v1+json","size":…,"digest":…,
//	    "annotations":{"org.processfork.path":"manifest.json.sig"}},
//	   {"mediaType":"application/vnd.processfork.layer.v1+zstd","size":…,"digest":…,
//	    "annotations":{"org.processfork.path":"blobs/sha256/<aa>/<hex>.zst"}},
//	   …]}
//
// The config is the pf manifest itself, as its exact bytes, so its digest
// is the image id. The first layer is the signature file of the file://
// registry (Signature). Then one layer per blob the image reaches: one
// zstd frame of the blob's bytes, named by the digest of the frame; the
// path annotation names the blob's own digest, against which a pull
// checks the bytes the frame decodes to.
//
// Package serve's read-only /v2/ API serves images in this form too
// (Describe).
package ociimage

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// Media types and the annotation of the reference's OCI form.
const (
	MediaTypeManifest  = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeConfig    = manifest.MediaType
	MediaTypeLayer     = "application/vnd.processfork.layer.v1+zstd"
	MediaTypeSignature = "application/vnd.processfork.signature.v1+json"
	AnnotationPath     = "org.processfork.path"
	SignaturePath      = "manifest.json.sig"
)

// A Descriptor names a blob of the registry, as the reference writes it:
// its keys in this order, annotations left out when there are none.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Size        int64             `json:"size"`
	Digest      string            `json:"digest"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Manifest is the OCI image manifest of one pf image.
type Manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        Descriptor   `json:"config"`
	Layers        []Descriptor `json:"layers"`
}

// A Layer is one blob of an image in its OCI form: the blob's digest, and
// the digest and size of its zstd frame.
type Layer struct {
	Blob   manifest.Digest
	Digest manifest.Digest
	Size   int64
}

// LayerPath is the path annotation of blob d's layer: where the
// reference's directory layout keeps it.
func LayerPath(d manifest.Digest) string {
	hex := d.Hex()
	return "blobs/sha256/" + hex[:2] + "/" + hex + ".zst"
}

// ParseLayerPath reads the blob digest out of a layer's path annotation.
func ParseLayerPath(p string) (manifest.Digest, error) {
	rest, ok := strings.CutPrefix(p, "blobs/sha256/")
	if ok {
		rest, ok = strings.CutSuffix(rest, ".zst")
	}
	if ok {
		var shard string
		shard, rest, ok = strings.Cut(rest, "/")
		ok = ok && len(shard) == 2 && strings.HasPrefix(rest, shard)
	}
	if !ok {
		return manifest.Digest{}, fmt.Errorf("layer path %q is not blobs/sha256/<aa>/<64 hex>.zst", p)
	}
	return manifest.ParseHex(rest)
}

// New builds the OCI manifest of the image whose manifest is raw, with the
// signature file sig and the layers of every blob it reaches, in order.
func New(raw, sig []byte, layers []Layer) *Manifest {
	m := &Manifest{
		SchemaVersion: 2,
		MediaType:     MediaTypeManifest,
		Config:        Descriptor{MediaType: MediaTypeConfig, Size: int64(len(raw)), Digest: manifest.Sum(raw).String()},
		Layers: []Descriptor{{
			MediaType: MediaTypeSignature, Size: int64(len(sig)), Digest: manifest.Sum(sig).String(),
			Annotations: map[string]string{AnnotationPath: SignaturePath},
		}},
	}
	for _, l := range layers {
		m.Layers = append(m.Layers, Descriptor{
			MediaType: MediaTypeLayer, Size: l.Size, Digest: l.Digest.String(),
			Annotations: map[string]string{AnnotationPath: LayerPath(l.Blob)},
		})
	}
	return m
}

// Encode writes m as compact JSON.
func (m *Manifest) Encode() []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // strings, numbers and maps of strings always encode
	}
	return b
}

// ErrNotPF is the error of a manifest that is not a pf image's.
var ErrNotPF = errors.New("not a pf image")

// MaxManifestSize bounds an OCI manifest read: about 20,000 layers.
const MaxManifestSize = 8 << 20

// Parsed is what a pull needs of an OCI manifest.
type Parsed struct {
	Manifest  *Manifest
	Config    Descriptor // its digest is the image id
	ID        manifest.Digest
	Signature Descriptor
	Layers    []Layer // one per blob, in the manifest's order
}

// Parse reads an OCI manifest of a pf image. One whose config is not a pf
// manifest is refused (an error wrapping ErrNotPF), as is one without a
// signature layer, a layer whose path annotation does not name a blob, or
// a digest that is not sha256. Layers of other media types are ignored,
// as the reference ignores them.
func Parse(b []byte) (*Parsed, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("OCI manifest: %w", err)
	}
	if m.SchemaVersion != 2 {
		return nil, fmt.Errorf("OCI manifest: schemaVersion %d, want 2", m.SchemaVersion)
	}
	if m.MediaType != "" && m.MediaType != MediaTypeManifest {
		return nil, fmt.Errorf("%w: manifest media type %q, want %q", ErrNotPF, m.MediaType, MediaTypeManifest)
	}
	if m.Config.MediaType != MediaTypeConfig {
		return nil, fmt.Errorf("%w: config media type %q, want %q", ErrNotPF, m.Config.MediaType, MediaTypeConfig)
	}
	p := &Parsed{Manifest: &m, Config: m.Config}
	var err error
	if p.ID, err = manifest.ParseDigest(m.Config.Digest); err != nil {
		return nil, fmt.Errorf("OCI manifest: config: %w", err)
	}
	if m.Config.Size < 0 || m.Config.Size > manifest.MaxManifestSize {
		return nil, fmt.Errorf("OCI manifest: config of %d bytes, at most %d", m.Config.Size, manifest.MaxManifestSize)
	}
	seen := map[manifest.Digest]bool{}
	for i, l := range m.Layers {
		switch l.MediaType {
		case MediaTypeSignature:
			if p.Signature.Digest != "" {
				return nil, fmt.Errorf("OCI manifest: layer %d: a second signature", i)
			}
			if _, err := manifest.ParseDigest(l.Digest); err != nil {
				return nil, fmt.Errorf("OCI manifest: signature layer: %w", err)
			}
			if l.Size < 0 || l.Size > maxSignature {
				return nil, fmt.Errorf("OCI manifest: signature layer of %d bytes", l.Size)
			}
			p.Signature = l
		case MediaTypeLayer:
			blob, err := ParseLayerPath(l.Annotations[AnnotationPath])
			if err != nil {
				return nil, fmt.Errorf("OCI manifest: layer %d: %w", i, err)
			}
			d, err := manifest.ParseDigest(l.Digest)
			if err != nil {
				return nil, fmt.Errorf("OCI manifest: layer %d: %w", i, err)
			}
			if l.Size < 0 {
				return nil, fmt.Errorf("OCI manifest: layer %d: size %d", i, l.Size)
			}
			if !seen[blob] {
				seen[blob] = true
				p.Layers = append(p.Layers, Layer{Blob: blob, Digest: d, Size: l.Size})
			}
		}
	}
	if p.Signature.Digest == "" {
		return nil, fmt.Errorf("OCI manifest: no signature layer (%s): %w", MediaTypeSignature, pf.ErrCorrupt)
	}
	return p, nil
}

// DigestOf returns d's digest as pf reads it; d comes from Parse, which
// checked it.
func (d Descriptor) DigestOf() manifest.Digest {
	dg, _ := manifest.ParseDigest(d.Digest)
	return dg
}
