// Package db owns the store's one bbolt file: opening it (locking, refusing
// files that are not stores, upgrading old schemas), the bucket layout, and
// the group commit that lets many writers share one fsync.
//
// The layout, schema version 13 (every key that names content is the raw
// 32-byte SHA-256 of the uncompressed bytes; every value that holds content
// is in the cas value format, see package cas):
//
//	meta/
//	    format          = "processfork.store"
//	    schema_version  = uint64 big-endian
//	stats/
//	    <counter name>  = int64 big-endian (blobs, chunks, logical, stored, images, image_logical;
//	                      since schema 10 deleted: values ever deleted from blobs/ and chunks/)
//	blobs/
//	    <digest>        = packed reference (a value of up to 256 KiB):
//	                      0x03, then uvarints pack id, offset, length of
//	                      the value inside that pack
//	    <digest>/       a bucket holding one key (a larger value; package
//	                    cas says why)
//	        0x00        = value: raw, zstd, or a chunk list
//	chunks/
//	    <digest>        = packed reference, as in blobs/
//	    <digest>/
//	        0x00        = value: raw or zstd (never a chunk list); a
//	                      chunk kept raw is two, its head filling
//	                      this bucket's pages whole and its tail packed
//	packs/              (since schema 4)
//	    <pack id, uint64 big-endian, from the bucket's sequence>/
//	        0x00        = values side by side (about 4 MiB)
//	        0x01        = members: 'b'|'c' <digest> per value it was
//	                      written with (whether each sits in blobs/ or
//	                      chunks/); some may have moved or gone since
//	packlive/           (since schema 4; apart from packs/ so that a
//	                    delete does not rewrite the pack's pages)
//	    <pack id>       = uvarints: values still referenced, their bytes,
//	                      the pack's length
//	provisional/
//	    'b'|'c' <digest> = ""  (a blob or chunk in a bucket of its own,
//	                      written early for a snapshot still in progress,
//	                      that no image holds yet; reclaimed when that
//	                      snapshot fails, or on the next read-write open)
//	    'p' <pack id>   = ""  (since schema 4: a pack written early. Since
//	                      schema 5 nothing refers to it and packlive/ does
//	                      not count it until its snapshot commits; schema
//	                      4 wrote its references early too)
//	manifests/
//	    <image id>      = value holding the manifest's exact bytes (since
//	                      schema 8: format 0x03, its digests packed and
//	                      compressed against the dictionary in package
//	                      cas, named in the frame's header)
//	index/
//	    time/
//	        <created_at, 12 bytes> <image id>  = summary (Unix seconds
//	                      with the sign bit flipped, then nanoseconds,
//	                      both big-endian: sorts in time order for any
//	                      year; the id breaks ties. Since schema 11 the
//	                      value is what a listing shows beyond the key:
//	                      0x01, the agent's kind, version and fingerprint
//	                      each behind its uvarint length, the number of
//	                      parents (uvarint) and their ids in the
//	                      manifest's order; package index. Empty: an
//	                      image filed before, read from its manifest)
//	    parent/
//	        <parent id> <child id>            = ""   (a root is filed under
//	                      the all-zero parent)
//	tags/               (since schema 2)
//	    <name>          = <image id>
//	shallow/            (since schema 7)
//	    <image id>      = ""  (an image committed without all its parents,
//	                      as a pull of one image brings it: a parent it
//	                      names that manifests/ lacks is expected, and
//	                      history walks stop there)
//	pins/               (since schema 9)
//	    <blob digest>   = when it was pinned: Unix ns, int64 big-endian.
//	                      A blob a user keeps though no image reaches it
//	                      (pf put --pin, pf pin): a root of gc, as
//	                      images are
//	dicts/              (since schema 12; package cas)
//	    <dictionary id, uint32 big-endian> = a zstd dictionary that pf
//	                      compact trained on the store's own values; a
//	                      zstd value whose frame header names that id is
//	                      compressed against it. Never deleted
//	statcache/          (since schema 3; the root package's FileCache, where
//	                    package worktree's stat cache keeps its entries)
//	    <root id, 16 bytes>/  (a bucket since schema 13; before, its keys
//	                      were each prefixed with the root id, and the
//	                      seal was the value of the root id alone)
//	                      root id: the first 16 bytes of the SHA-256 of the
//	                      captured directory's absolute path with symlinks
//	                      resolved
//	        "/" <subdirectory> = <group>  (since schema 14; before, one
//	                      key a file, its relative path, whose value was
//	                      its entry)
//	                      subdirectory: its relative path and a slash,
//	                      nothing for the directory's own files. Group:
//	                      format byte 1, then per file, in byte order of
//	                      the names: the name and the entry, each a
//	                      uvarint length and the bytes.
//	                      relative path: '/'-separated, as in the
//	                      fs.tree.v1 entry. Entry: the capture's record
//	                      of the file, then the 32-byte digest of its
//	                      bytes. worktree's record: format byte 4, then
//	                      varints: size, mtime (Unix ns), ctime - mtime,
//	                      inode, device, the second the stat was taken
//	                      minus the mtime's second, clamped to -1..1,
//	                      mode (format 3, still read: the same but the
//	                      time of the stat as ns - mtime; format 2, still
//	                      read: those fields fixed, big-endian, 8 bytes
//	                      each and 4 for the mode).
//	                      A cache, never a reference: an entry's digest may
//	                      be gone from blobs/, and gc need not look here.
//	        0x00        = seal (since schema 10): format byte 1, then
//	                      big-endian the deleted counter, the number of
//	                      the root's entries and the sum of their CRC-64s
//	                      when all of them last named stored blobs. While
//	                      all three still hold, no entry's blob is gone.
//	                      (Format byte 2: the same, then the digests of
//	                      the tree sealed with them and of its rest.)
//	heads/              (since schema 6; the root package's workspace heads)
//	    <directory> 0x00 <session>  = <image id, 32 bytes> <when set, Unix
//	                      ns, 8 bytes big-endian>
//	                      directory: absolute, symbolic links resolved;
//	                      session: "" for the default one. Roots for
//	                      prune, like tags/.
//
// The file is locked by one read-write process at a time; read-only opens
// share the lock with each other but not with a writer. Every commit
// writes bbolt's freelist (the pages free for reuse), so that an open for
// writing reads it instead of visiting every page in use to rebuild it.
package db
