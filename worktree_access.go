package pf

import "github.com/processfork/pf/db"

// DB is the store's file, for the packages that keep buckets of their own
// in it (package worktree's stat cache). Writes must go through its Update,
// so that they share the store's group commit.
func (s *Store) DB() *db.DB { return s.db }
