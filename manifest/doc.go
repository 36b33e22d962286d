// Package manifest implements the .pfimg v1 image format: digests, the
// manifest, and the layer blobs the store looks inside (fs.tree.v1, the
// cache page manifest, merged effects).
//
// A ProcessFork image is one small JSON document, the manifest, that names
// by SHA-256 digest the blobs holding each layer of an agent's state. The
// image id is the digest of the manifest's exact bytes, so two rules follow:
//
//   - Encode writes the one canonical form that the reference implementation
//     (pf-core 1.0.x) writes too: compact JSON, fixed key order, its string
//     escaping and its timestamp format. A manifest built here and a
//     manifest built there for the same state have the same id.
//   - A manifest that arrives from elsewhere is stored and hashed as the
//     bytes it came with. Decode is a strict reader of such outside input;
//     it never stands in for those bytes.
//
// Decode, DecodeTree, DecodeCachePages and DecodeMergedEffects treat their
// input as untrusted: they bound nesting depth, refuse invalid UTF-8,
// duplicate keys and trailing data, check every digest, and ignore unknown
// keys so that later minor versions of the format still read (a page
// manifest keeps them, to write them again). They are lenient where the
// reference's own code is: tree entries in any order, without mode and
// kind, or with six-digit modes; page manifests without the fields only
// the reference's reader requires; merged ledgers without the replay
// policy. Every error wraps one of the package's sentinel errors and names
// the field at fault.
//
// The format as this package implements it is written down in
// docs/format.md, with the reference's sources it follows.
//
// Refs and NeedsContent tell a store which blobs a layer blob names, for
// reachability (gc, verify, export, push).
package manifest
