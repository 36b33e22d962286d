package manifest

import (
	"encoding/hex"
	"strconv"
)

// Encode validates m and returns its canonical bytes: compact JSON with the
// keys in the order of the spec, created_at as FormatTime writes it, and
// parents always present. These bytes are what the image id hashes.
func (m *Manifest) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 1024)
	b = append(b, `{"schema_version":`...)
	b = strconv.AppendInt(b, int64(m.SchemaVersion), 10)
	b = append(b, `,"media_type":`...)
	b = appendString(b, m.MediaType)
	b = append(b, `,"agent":{"kind":`...)
	b = appendString(b, m.Agent.Kind)
	b = append(b, `,"version":`...)
	b = appendString(b, m.Agent.Version)
	b = append(b, `,"fingerprint":`...)
	b = appendString(b, m.Agent.Fingerprint)
	b = append(b, `},"model":{"base":`...)
	b = appendDigest(b, m.Model.Base)
	b = append(b, `,"diff":`...)
	b = appendDigest(b, m.Model.Diff)
	b = append(b, `},"cache":{"layout":`...)
	b = appendString(b, m.Cache.Layout)
	b = append(b, `,"manifest":`...)
	b = appendDigest(b, m.Cache.Manifest)
	b = append(b, `},"world":{"fs":`...)
	b = appendDigest(b, m.World.FS)
	b = append(b, `,"env":`...)
	b = appendDigest(b, m.World.Env)
	b = append(b, `,"procs":`...)
	b = appendDigest(b, m.World.Procs)
	b = append(b, `},"effects":{"ledger":`...)
	b = appendDigest(b, m.Effects.Ledger)
	b = append(b, `},"trace":{"messages":`...)
	b = appendDigest(b, m.Trace.Messages)
	b = append(b, `},"created_at":`...)
	b = appendString(b, FormatTime(m.CreatedAt))
	b = append(b, `,"parents":[`...)
	for i, p := range m.Parents {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendDigest(b, p)
	}
	return append(b, "]}"...), nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string the way the reference's encoder
// (serde_json) writes it: only '"', '\\' and the control characters below
// 0x20 are escaped, the five with short forms as \b \f \n \r \t and the
// rest as \u00xx in lower-case hex. Everything else, '<', '>', '&', U+2028,
// U+2029 and all non-ASCII included, is written raw. encoding/json escapes
// more and would change the image id. s must be valid UTF-8; callers check.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendDigest appends d's text form as a JSON string; it needs no escaping.
func appendDigest(b []byte, d Digest) []byte {
	b = append(b, '"')
	b = append(b, digestPrefix...)
	b = hex.AppendEncode(b, d[:])
	return append(b, '"')
}
