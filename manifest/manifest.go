package manifest

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// Format constants.
const (
	SchemaVersion      = 1
	MediaType          = "application/vnd.processfork.image.v1+json"
	DefaultCacheLayout = "paged-batchinvariant-v1"
	MaxManifestSize    = 1 << 20 // Decode refuses larger input
	MaxParents         = 2       // a merge names [into, from]
)

// Layer names, as LayerRef.Name and the layer argument of Refs.
const (
	LayerModelBase     = "model.base"
	LayerModelDiff     = "model.diff"
	LayerCacheManifest = "cache.manifest"
	LayerWorldFS       = "world.fs"
	LayerWorldEnv      = "world.env"
	LayerWorldProcs    = "world.procs"
	LayerEffectsLedger = "effects.ledger"
	LayerTraceMessages = "trace.messages"
)

// Agent identifies the runtime that produced an image.
type Agent struct {
	Kind        string // claude-code, langgraph, vllm, ...
	Version     string
	Fingerprint string // opaque build fingerprint
}

// String is the agent as people read it: "kind@version", or the kind
// alone when the version is empty (a workspace captured by pf itself).
func (a Agent) String() string {
	if a.Version == "" {
		return a.Kind
	}
	return a.Kind + "@" + a.Version
}

// Model names the weights: the base model, shared by many images, and the
// delta (LoRA, full diff) on top of it.
type Model struct {
	Base, Diff Digest
}

// Cache names the KV-cache page manifest and the page layout it uses.
type Cache struct {
	Layout   string
	Manifest Digest
}

// World names the file-system tree, the environment (vars and cwd) and the
// in-flight process state.
type World struct {
	FS, Env, Procs Digest
}

// Effects names the append-only ledger of side effects (tool calls).
type Effects struct {
	Ledger Digest
}

// Trace names the chat and tool-call message log.
type Trace struct {
	Messages Digest
}

// A Manifest is one image: the digests of its layers, when it was sealed,
// and the images it came from.
type Manifest struct {
	SchemaVersion int
	MediaType     string
	Agent         Agent
	Model         Model
	Cache         Cache
	World         World
	Effects       Effects
	Trace         Trace
	CreatedAt     time.Time
	Parents       []Digest // 0: a root; 1: a snapshot or fork; 2: a merge, [into, from]
}

// New returns a manifest of the current schema with the default cache
// layout and no layers set. createdAt is kept in UTC without its monotonic
// clock reading, as Decode would return it.
func New(agent Agent, createdAt time.Time, parents ...Digest) *Manifest {
	return &Manifest{
		SchemaVersion: SchemaVersion,
		MediaType:     MediaType,
		Agent:         agent,
		Cache:         Cache{Layout: DefaultCacheLayout},
		CreatedAt:     createdAt.UTC(),
		Parents:       append([]Digest(nil), parents...),
	}
}

// Validate reports whether m can be written: schema version 1, the v1 media
// type, at most two distinct parents, a creation time that RFC 3339 can
// express, and strings that are valid UTF-8. The error wraps
// ErrInvalidManifest and names the field.
func (m *Manifest) Validate() error {
	if err := m.check(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	return nil
}

// check is Validate without the sentinel, so that Decode can wrap its own
// errors and these alike.
func (m *Manifest) check() error {
	if m.SchemaVersion != SchemaVersion {
		return fmt.Errorf("schema_version: unsupported version %d, want %d", m.SchemaVersion, SchemaVersion)
	}
	if m.MediaType != MediaType {
		return fmt.Errorf("media_type: %s, want %q", quote(m.MediaType), MediaType)
	}
	for _, f := range [...]struct{ name, s string }{
		{"agent.kind", m.Agent.Kind},
		{"agent.version", m.Agent.Version},
		{"agent.fingerprint", m.Agent.Fingerprint},
		{"cache.layout", m.Cache.Layout},
	} {
		if !utf8.ValidString(f.s) {
			return fmt.Errorf("%s: %s is not valid UTF-8", f.name, quote(f.s))
		}
	}
	if m.CreatedAt.IsZero() {
		return fmt.Errorf("created_at: not set")
	}
	if y := m.CreatedAt.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("created_at: year %d in UTC is outside 0000-9999", y)
	}
	if len(m.Parents) > MaxParents {
		return fmt.Errorf("parents: %d parents, at most %d", len(m.Parents), MaxParents)
	}
	if len(m.Parents) == 2 && m.Parents[0] == m.Parents[1] {
		return fmt.Errorf("parents[1]: duplicate parent %s", m.Parents[1])
	}
	return nil
}

// A LayerRef is one layer digest of a manifest with its name.
type LayerRef struct {
	Name   string // "model.base", "world.fs", ...: see the Layer constants
	Digest Digest
}

// layerNames are the eight layers in manifest order.
var layerNames = [...]string{
	LayerModelBase, LayerModelDiff, LayerCacheManifest, LayerWorldFS,
	LayerWorldEnv, LayerWorldProcs, LayerEffectsLedger, LayerTraceMessages,
}

// Layers returns the eight layer digests in manifest order. A zero digest
// is included: it is the caller's business whether a layer may be unset.
func (m *Manifest) Layers() []LayerRef {
	refs := make([]LayerRef, len(layerNames))
	for i, name := range layerNames {
		refs[i] = LayerRef{name, *m.layer(name)}
	}
	return refs
}

// layer returns a pointer to the named layer digest, or nil.
func (m *Manifest) layer(name string) *Digest {
	switch name {
	case LayerModelBase:
		return &m.Model.Base
	case LayerModelDiff:
		return &m.Model.Diff
	case LayerCacheManifest:
		return &m.Cache.Manifest
	case LayerWorldFS:
		return &m.World.FS
	case LayerWorldEnv:
		return &m.World.Env
	case LayerWorldProcs:
		return &m.World.Procs
	case LayerEffectsLedger:
		return &m.Effects.Ledger
	case LayerTraceMessages:
		return &m.Trace.Messages
	}
	return nil
}

// Layer returns the digest of the named layer; ok is false for a name that
// is not one of the eight layers.
func (m *Manifest) Layer(name string) (d Digest, ok bool) {
	p := m.layer(name)
	if p == nil {
		return Digest{}, false
	}
	return *p, true
}

// SetLayer sets the digest of the named layer. It fails for a name that is
// not one of the eight layers.
func (m *Manifest) SetLayer(name string, d Digest) error {
	p := m.layer(name)
	if p == nil {
		return fmt.Errorf("manifest: unknown layer %s", quote(name))
	}
	*p = d
	return nil
}

// ID returns the image id: the digest of the canonical encoding. For a
// manifest read from elsewhere the id is the digest of the bytes it came
// with, which Sum computes; ID is for manifests built here.
func (m *Manifest) ID() (Digest, error) {
	b, err := m.Encode()
	if err != nil {
		return Digest{}, err
	}
	return Sum(b), nil
}
