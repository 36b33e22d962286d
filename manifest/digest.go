package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"
)

// A Digest is the raw SHA-256 of a blob's uncompressed bytes. Its text form
// is "sha256:" followed by 64 lower-case hex digits.
type Digest [32]byte

// digestPrefix is the only algorithm the format knows.
const digestPrefix = "sha256:"

// EmptyDigest is the digest of the empty blob,
// sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.
var EmptyDigest = Sum(nil)

// Sum returns the digest of b.
func Sum(b []byte) Digest {
	return sha256.Sum256(b)
}

// ParseDigest parses the text form of a digest, "sha256:" followed by
// exactly 64 lower-case hex digits. Anything else is refused, upper-case
// hex included: accepting it would let one blob be stored under two names.
// Errors wrap ErrInvalidDigest and quote the input.
func ParseDigest(s string) (Digest, error) {
	if d, ok := digestFromText(s); ok {
		return d, nil
	}
	if s != "" && strings.TrimSpace(s) != s {
		return Digest{}, digestError(s, "leading or trailing white space")
	}
	if !strings.HasPrefix(s, digestPrefix) {
		return Digest{}, digestError(s, prefixProblem(s))
	}
	d, problem := parseHex(s[len(digestPrefix):], len(digestPrefix))
	if problem != "" {
		return Digest{}, digestError(s, problem)
	}
	return d, nil
}

// ParseHex parses 64 lower-case hex digits without the "sha256:" prefix,
// as in store file names. It is as strict as ParseDigest.
func ParseHex(s string) (Digest, error) {
	if s != "" && strings.TrimSpace(s) != s {
		return Digest{}, digestError(s, "leading or trailing white space")
	}
	d, problem := parseHex(s, 0)
	if problem != "" {
		return Digest{}, digestError(s, problem)
	}
	return d, nil
}

func digestError(s, problem string) error {
	return fmt.Errorf("%w %s: %s", ErrInvalidDigest, quote(s), problem)
}

// prefixProblem says why s does not start with "sha256:".
func prefixProblem(s string) string {
	if s == "" {
		return "empty"
	}
	if i := strings.IndexByte(s, ':'); i > 0 && isAlgorithmName(s[:i]) {
		return fmt.Sprintf("unsupported algorithm %q, want %q", s[:i], "sha256")
	}
	return `missing "sha256:" prefix`
}

// isAlgorithmName reports whether s looks like the name of a hash
// algorithm (md5, sha512, blake3, SHA256), so that the error can say the
// algorithm is wrong rather than that the prefix is missing.
func isAlgorithmName(s string) bool {
	if len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// parseHex decodes 64 lower-case hex digits. On failure it returns a
// description of the first problem; offset is where h starts in the
// caller's input, so that positions in messages match what the user typed.
func parseHex(h string, offset int) (Digest, string) {
	var d Digest
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			return d, fmt.Sprintf("upper-case hex digit %q at offset %d", c, offset+i)
		default:
			r, _ := utf8.DecodeRuneInString(h[i:])
			return d, fmt.Sprintf("non-hex character %q at offset %d", r, offset+i)
		}
	}
	if len(h) != 2*len(d) {
		return d, fmt.Sprintf("%d hex digits, want %d", len(h), 2*len(d))
	}
	hex.Decode(d[:], []byte(h)) // cannot fail: checked above
	return d, ""
}

// digestFromText decodes the text form of a digest, reporting whether s is
// one. It is ParseDigest without the error, which the readers use on the
// bytes of their input: it allocates nothing, and ParseDigest says what is
// wrong when it fails.
func digestFromText[T string | []byte](s T) (d Digest, ok bool) {
	if len(s) != len(digestPrefix)+2*len(d) || string(s[:len(digestPrefix)]) != digestPrefix {
		return d, false
	}
	h := s[len(digestPrefix):]
	for i := range d {
		hi, lo := lowerHex[h[2*i]], lowerHex[h[2*i+1]]
		if hi|lo > 0xf {
			return Digest{}, false
		}
		d[i] = hi<<4 | lo
	}
	return d, true
}

// lowerHex maps the lower-case hex digits to their values and every other
// byte to 0xff.
var lowerHex = func() (t [256]byte) {
	for c := range t {
		switch {
		case '0' <= c && c <= '9':
			t[c] = byte(c - '0')
		case 'a' <= c && c <= 'f':
			t[c] = byte(c - 'a' + 10)
		default:
			t[c] = 0xff
		}
	}
	return t
}()

// String returns the text form, "sha256:" and 64 lower-case hex digits.
func (d Digest) String() string {
	b := make([]byte, len(digestPrefix)+2*len(d))
	copy(b, digestPrefix)
	hex.Encode(b[len(digestPrefix):], d[:])
	return string(b)
}

// Hex returns the 64 lower-case hex digits without the prefix.
func (d Digest) Hex() string {
	return hex.EncodeToString(d[:])
}

// Short returns the first 12 hex digits, for display.
func (d Digest) Short() string {
	return hex.EncodeToString(d[:6])
}

// IsZero reports whether d is the zero value, which names no blob.
func (d Digest) IsZero() bool {
	return d == Digest{}
}

// MarshalText implements encoding.TextMarshaler using the text form.
func (d Digest) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with the rules of
// ParseDigest.
func (d *Digest) UnmarshalText(b []byte) error {
	v, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
