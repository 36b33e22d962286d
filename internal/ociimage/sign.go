package ociimage

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/processfork/pf"
)

// The reference signs each manifest it pushes: a file manifest.json.sig
// beside the manifest in its file:// registry, the first layer of its OCI
// form. The signature is an HMAC-SHA256 of the manifest's bytes under a
// key that the pushing and the pulling side share ($PF_FILE_REG_SIGN_KEY
// for file://, $PF_OCI_REG_SIGN_KEY for oci://), or, without one, under a
// fixed key that anyone can use: then the signature proves only that the
// manifest arrived as it was pushed. Source: pf-registry/src/sign.rs in the
// reference's repository.

// DefaultSignKey is the reference's key when none is set.
const DefaultSignKey = "processfork-default-self-sign-key.v1"

// SignatureAlgorithm is the one algorithm the reference's v1 signs with.
const SignatureAlgorithm = "hmac-sha256"

// maxSignature bounds the signature file a pull reads.
const maxSignature = 64 << 10

// Signature is the signature file, keys in the reference's order.
type Signature struct {
	Algorithm      string  `json:"algorithm"`
	ManifestDigest string  `json:"manifest_digest"` // bare hex of the manifest's SHA-256
	Signature      string  `json:"signature"`       // hex of the HMAC
	Bundle         *string `json:"bundle,omitempty"`
}

// Sign returns the signature file of the manifest bytes raw under key
// (DefaultSignKey if empty).
func Sign(raw []byte, key string) []byte {
	sum := sha256.Sum256(raw)
	b, err := json.Marshal(Signature{
		Algorithm:      SignatureAlgorithm,
		ManifestDigest: hex.EncodeToString(sum[:]),
		Signature:      hex.EncodeToString(mac(raw, key)),
	})
	if err != nil {
		panic(err)
	}
	return b
}

// Verify checks the signature file sig of the manifest bytes raw under key
// (DefaultSignKey if empty), before anything parses raw. A signature that
// does not hold is an error wrapping pf.ErrCorrupt.
func Verify(raw, sig []byte, key string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("signature: %s: %w", fmt.Sprintf(format, args...), pf.ErrCorrupt)
	}
	var s Signature
	if len(sig) > maxSignature {
		return bad("%d bytes, at most %d", len(sig), maxSignature)
	}
	if err := json.Unmarshal(sig, &s); err != nil {
		return bad("not the reference's signature file: %v", err)
	}
	if s.Algorithm != SignatureAlgorithm {
		return bad("algorithm %q, want %q", s.Algorithm, SignatureAlgorithm)
	}
	sum := sha256.Sum256(raw)
	if got := hex.EncodeToString(sum[:]); got != s.ManifestDigest {
		return bad("the manifest hashes to %s, the signature names %s", got, s.ManifestDigest)
	}
	want, err := hex.DecodeString(s.Signature)
	if err != nil || !hmac.Equal(want, mac(raw, key)) {
		return bad("the HMAC does not hold under this key (set the key the pushing side used)")
	}
	return nil
}

func mac(raw []byte, key string) []byte {
	if key == "" {
		key = DefaultSignKey
	}
	h := hmac.New(sha256.New, []byte(key))
	h.Write(raw)
	return h.Sum(nil)
}
