package pf

import "github.com/processfork/pf/internal/db"

// StoreDB is the store's file, for the black-box tests that inspect or
// damage what is in it.
func StoreDB(s *Store) *db.DB { return s.db }
