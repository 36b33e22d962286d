package manifest

import (
	"fmt"
)

// Decode reads a manifest from outside input. It is strict: at most
// MaxManifestSize bytes of valid UTF-8 holding exactly one JSON object,
// nested at most 32 deep, without duplicate keys, with every required key
// present and of the right JSON type, every digest valid, schema version 1,
// the v1 media type, at most two distinct parents and an RFC 3339
// created_at (any offset; kept in UTC). A missing parents key means no
// parents; unknown keys are ignored.
//
// Decode does not make the input canonical: the id of a manifest that
// arrived from elsewhere is the digest of the bytes it came with.
//
// Errors wrap ErrInvalidManifest and name the field at fault.
func Decode(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidManifest, len(b), MaxManifestSize)
	}
	m, err := decodeManifest(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	return m, nil
}

// The keys of the manifest and of its nested objects.
var (
	manifestKeys = keySet{
		required: []string{"schema_version", "media_type", "agent", "model", "cache", "world", "effects", "trace", "created_at"},
		optional: []string{"parents"},
	}
	agentKeys   = keySet{required: []string{"kind", "version", "fingerprint"}}
	modelKeys   = keySet{required: []string{"base", "diff"}}
	cacheKeys   = keySet{required: []string{"layout", "manifest"}}
	worldKeys   = keySet{required: []string{"fs", "env", "procs"}}
	effectsKeys = keySet{required: []string{"ledger"}}
	traceKeys   = keySet{required: []string{"messages"}}
)

func decodeManifest(b []byte) (*Manifest, error) {
	r := newReader(b)
	m := new(Manifest)
	err := r.document(&manifestKeys, func(key string, at loc) error {
		switch key {
		case "schema_version":
			n, err := r.int(at)
			if err != nil {
				return err
			}
			if n != SchemaVersion {
				return fmt.Errorf("%s: unsupported version %d, want %d", at, n, SchemaVersion)
			}
			m.SchemaVersion = int(n)
		case "media_type":
			s, err := r.rawString(at)
			if err != nil {
				return err
			}
			if !s.is(MediaType) {
				return fmt.Errorf("%s: %s, want %q", at, quote(s.String()), MediaType)
			}
			m.MediaType = MediaType
		case "agent":
			a := &m.Agent
			return r.stringFields(at, &agentKeys, &a.Kind, &a.Version, &a.Fingerprint)
		case "model":
			return r.digestFields(at, &modelKeys, &m.Model.Base, &m.Model.Diff)
		case "cache":
			return r.object(at, &cacheKeys, func(key string, at loc) (err error) {
				switch key {
				case "layout":
					var s rawString
					s, err = r.rawString(at)
					m.Cache.Layout = s.intern(DefaultCacheLayout)
				case "manifest":
					m.Cache.Manifest, err = r.digest(at)
				}
				return err
			})
		case "world":
			return r.digestFields(at, &worldKeys, &m.World.FS, &m.World.Env, &m.World.Procs)
		case "effects":
			return r.digestFields(at, &effectsKeys, &m.Effects.Ledger)
		case "trace":
			return r.digestFields(at, &traceKeys, &m.Trace.Messages)
		case "created_at":
			s, err := r.rawString(at)
			if err != nil {
				return err
			}
			t, err := ParseTime(s.String())
			if err != nil {
				return fmt.Errorf("%s: %w", at, err)
			}
			m.CreatedAt = t
		case "parents":
			return r.array(at, func(i int, at loc) error {
				if i == MaxParents {
					return fmt.Errorf("%s: more than %d parents", key, MaxParents)
				}
				d, err := r.digest(at)
				if m.Parents == nil {
					m.Parents = make([]Digest, 0, MaxParents)
				}
				m.Parents = append(m.Parents, d)
				return err
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The same rules as Validate, so that whatever Decode returns encodes.
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}
