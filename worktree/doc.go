// Package worktree is the one part of pf that reads and writes a real file
// system. It walks a directory into the world layer of an image (an
// fs.tree.v1 tree, the env.v1 environment and the procs.unsupported.v1
// marker), with gitignore-style ignore rules and a stat cache kept in the
// store, and rebuilds a directory from an image's tree. It also reads the
// other layers an agent leaves in files (JSON-lines traces and effect
// ledgers, a model diff, a KV-cache page manifest) and compares trees.
//
// It is a package of its own because everything here deals with what the
// rest of pf never has to: names that are not valid UTF-8, files that
// change or vanish while they are read, sockets and devices, permission
// errors, symbolic links that point anywhere, and entries of an untrusted
// tree that would land outside the directory being restored. The store,
// the manifest and the blobs know nothing of paths on disk; keeping that
// knowledge here keeps them portable and keeps its hazards in one place.
//
// # Capturing
//
// Capture implements pf.WorldCapture. It walks Root without following
// symbolic links (a link is stored as its target text), hashes and stores
// files on a bounded pool of goroutines, each file streamed through the
// store's blob writer, so memory stays bounded whatever the file sizes. A
// file whose size, mtime, ctime or inode differ after it was read from
// before is read again, each read bounded by the size the file had when
// it began; one that keeps changing (a log being appended) is stored as
// its last read got it, bytes that were in the file and their size, with
// a warning (Capture.Strict fails instead). Files that vanish during the
// walk, sockets, devices, named pipes, unreadable files and names the
// format cannot hold (not valid UTF-8) are skipped and reported through
// Capture.Warn. Files that usually hold credentials (DefaultSecrets: .env,
// *.pem, id_rsa, .npmrc, ...) are left out unless Capture.IncludeSecrets,
// and listed by Capture.Secrets. The environment is recorded with the
// captured directory as its working directory, without ShellNoise, and
// with secret-named values and credentials inside values redacted.
//
// Ignore rules are gitignore's, as implemented by go-git: in each
// directory, .pfignore if it has one, else .gitignore, applies to that
// directory's subtree; DefaultIgnores (build output, dependencies, caches
// and version-control data, the reference's defaults among them) come
// first and Capture.Ignore patterns last, so those win. The file
// .pfcid at the root, which Checkout writes, is never captured.
//
// # The stat cache
//
// With Capture.Store set, the size, mtime, ctime, inode and device of each
// file hashed are kept in the store (bucket statcache, see package db)
// beside the file's digest, like git's index. The next capture of the same
// directory trusts an entry only when all five still match, the digest is
// still stored, and the file's mtime is at least one whole second before
// the time the entry's stat was taken: a file modified in the same second
// as the cache saw it ("racy clean") could change again without its mtime
// changing, so it is hashed again.
//
// # Changes
//
// With Capture.Changes (a file-system watcher: pf serve keeps one per
// workspace, see internal/watch), a capture takes every directory that did
// not change since the last capture with the same Changes from what that
// capture found, without reading it, and lists and reads only the others;
// Status and Restore's backup take it too. The tree is the one a capture
// without Changes makes: a Changes that cannot tell what changed makes the
// capture walk everything, and a directory holding a multi-linked file, an
// entry warned of, or a file that changed while it was read is always read.
//
// # Status and patches
//
// Status compares a directory with an image's tree as a capture would see
// it, through the stat cache, storing nothing; MakePatch renders a change
// as a unified diff (github.com/aymanbagabas/go-udiff), reading each side
// from the store or from the directory.
//
// # Restoring
//
// Restore makes a directory match an image in place: it first snapshots
// the directory as a child of its head (the backup), then deletes, makes
// and rewrites only what differs, each file written to a temporary file
// beside it and renamed over it, every directory on the way opened without
// following a symbolic link (openat with O_NOFOLLOW on unix). What the
// ignore rules and DefaultSecrets leave out is never touched. A restore
// killed part way leaves every file old or new, and one run again
// completes it, deleting the temporary files the killed one left.
//
// Checkout rebuilds a tree in a staging directory beside the target and
// renames it into place, so a failure leaves nothing half-restored. It
// refuses any entry that would land outside the target: absolute paths,
// ".." segments and paths through a symbolic link of the tree; links whose
// targets are absolute or climb out of the tree are skipped with a warning
// (made only with CheckoutOptions.AllowOutsideSymlinks). Every blob is
// verified as it is written; a corrupt one fails with an error wrapping
// pf.ErrCorrupt.
package worktree
