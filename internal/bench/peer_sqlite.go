package bench

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"github.com/processfork/pf/internal/fixture"
	"path/filepath"
	"time"

	"github.com/processfork/pf/manifest"
	_ "modernc.org/sqlite" // the "sqlite" driver: SQLite in pure Go
)

// sqliteSystem is SQLite as an agent checkpointer uses it: a table of
// blobs keyed by digest and a table of manifests with an index on their
// creation time, in WAL mode with synchronous=FULL, each snapshot or
// ingest one transaction. Blobs are stored as they come (a checkpointer
// does not compress them). The driver is modernc.org/sqlite: SQLite
// compiled to Go, so pf's build needs no C compiler.
type sqliteSystem struct{}

func (sqliteSystem) Name() string { return sysSQLite }
func (sqliteSystem) Check() error { return nil }

const sqliteSchema = `
CREATE TABLE IF NOT EXISTS blobs (
	digest TEXT PRIMARY KEY,
	data   BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS manifests (
	id            TEXT PRIMARY KEY,
	created_at    INTEGER NOT NULL, -- Unix nanoseconds
	manifest      BLOB NOT NULL,
	-- The summary a listing shows, as pf keeps it in its time index.
	agent_kind    TEXT NOT NULL DEFAULT '',
	agent_version TEXT NOT NULL DEFAULT '',
	fingerprint   TEXT NOT NULL DEFAULT '',
	parents       BLOB NOT NULL DEFAULT x'' -- the parents' 32 bytes each
);
CREATE INDEX IF NOT EXISTS manifests_created_at ON manifests (created_at);
`

func sqlitePath(dir string) string { return filepath.Join(dir, "store.db") }

// openSQLite opens the database in dir with one connection, as a
// single-process checkpointer does.
func openSQLite(ctx context.Context, dir string) (*sql.DB, error) {
	dsn := "file:" + sqlitePath(dir) +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, sqliteSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return db, nil
}

// sqliteVersion is the SQLite library's version.
func sqliteVersion() string {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		return ""
	}
	defer db.Close()
	var v string
	if db.QueryRow("SELECT sqlite_version()").Scan(&v) != nil {
		return ""
	}
	return v
}

func (sqliteSystem) Open(ctx context.Context, dir string) (store, error) {
	db, err := openSQLite(ctx, dir)
	if err != nil {
		return nil, err
	}
	return &sqliteStore{db: db}, nil
}

type sqliteStore struct {
	db  *sql.DB
	get *sql.Stmt
}

func digestKey(d manifest.Digest) string { return hex.EncodeToString(d[:]) }

// putBlobs inserts blobs not stored yet, in tx.
func putBlobs(ctx context.Context, tx *sql.Tx, blobs [][]byte, keys []string) error {
	stmt, err := tx.PrepareContext(ctx, "INSERT OR IGNORE INTO blobs (digest, data) VALUES (?, ?)")
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i, b := range blobs {
		d := manifest.Sum(b)
		keys[i] = digestKey(d)
		if _, err := stmt.ExecContext(ctx, keys[i], b); err != nil {
			return err
		}
	}
	return nil
}

func (s *sqliteStore) Snapshot(ctx context.Context, f *fixture.Fixture, t time.Time, parents []manifest.Digest) (manifest.Digest, error) {
	raw, id, err := fixtureManifest(f, t, parents)
	if err != nil {
		return id, err
	}
	blobs := f.Blobs()
	data := make([][]byte, len(blobs))
	for i, b := range blobs {
		data[i] = b.Data
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := putBlobs(ctx, tx, data, make([]string, len(data))); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO manifests (id, created_at, manifest) VALUES (?, ?, ?)",
			digestKey(id), t.UnixNano(), raw)
		return err
	})
	return id, err
}

func (s *sqliteStore) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return fmt.Errorf("sqlite: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// Ingest inserts every blob in one transaction.
func (s *sqliteStore) Ingest(ctx context.Context, blobs [][]byte) ([]string, error) {
	keys := make([]string, len(blobs))
	err := s.inTx(ctx, func(tx *sql.Tx) error { return putBlobs(ctx, tx, blobs, keys) })
	return keys, err
}

func (s *sqliteStore) Get(ctx context.Context, key string) ([]byte, error) {
	if s.get == nil {
		stmt, err := s.db.PrepareContext(ctx, "SELECT data FROM blobs WHERE digest = ?")
		if err != nil {
			return nil, err
		}
		s.get = stmt
	}
	var b []byte
	if err := s.get.QueryRowContext(ctx, key).Scan(&b); err != nil {
		return nil, fmt.Errorf("sqlite: blob %s: %w", key, err)
	}
	return b, nil
}

// PutLarge inserts one row. SQLite refuses a value over SQLITE_MAX_LENGTH
// (10^9 bytes by default): a checkpointer would have to cut larger blobs
// itself.
func (s *sqliteStore) PutLarge(ctx context.Context, b []byte) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return putBlobs(ctx, tx, [][]byte{b}, make([]string, 1)) })
}

func (s *sqliteStore) Close() error {
	if s.get != nil {
		s.get.Close()
	}
	return s.db.Close()
}

// BuildHistory inserts every manifest with its summary, in transactions
// of 50,000.
func (sqliteSystem) BuildHistory(ctx context.Context, dir string, h *history) error {
	db, err := openSQLite(ctx, dir)
	if err != nil {
		return err
	}
	s := &sqliteStore{db: db}
	const batch = 50_000
	for start := 0; start < h.n; start += batch {
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			stmt, err := tx.PrepareContext(ctx, `INSERT INTO manifests (id, created_at, manifest, agent_kind, agent_version, fingerprint, parents)
				VALUES (?, ?, ?, ?, ?, ?, ?)`)
			if err != nil {
				return err
			}
			defer stmt.Close()
			for i := start; i < min(h.n, start+batch); i++ {
				raw := h.manifest(i)
				m, err := manifest.Decode(raw)
				if err != nil {
					return err
				}
				parents := []byte{} // a root's: nil would be NULL
				for _, p := range m.Parents {
					parents = append(parents, p[:]...)
				}
				if _, err := stmt.ExecContext(ctx, digestKey(h.ids[i]), h.created(i).UnixNano(), raw,
					m.Agent.Kind, m.Agent.Version, m.Agent.Fingerprint, parents); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			s.Close()
			return err
		}
	}
	return s.Close()
}

// CompactHistory is VACUUM, with the write-ahead log checkpointed into
// the database and emptied.
func (sqliteSystem) CompactHistory(ctx context.Context, dir string) error {
	db, err := openSQLite(ctx, dir)
	if err != nil {
		return err
	}
	for _, q := range []string{"VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			db.Close()
			return fmt.Errorf("sqlite: %s: %w", q, err)
		}
	}
	return db.Close()
}

func (sqliteSystem) Compaction() string { return "VACUUM" }

// CompactIngest is VACUUM, as for a history store.
func (s sqliteSystem) CompactIngest(ctx context.Context, dir string) error {
	return s.CompactHistory(ctx, dir)
}

func (sqliteSystem) OpenHistory(ctx context.Context, dir string) (historyStore, error) {
	db, err := openSQLite(ctx, dir)
	if err != nil {
		return nil, err
	}
	return sqliteHistory{db}, nil
}

type sqliteHistory struct{ db *sql.DB }

// Newest reads the summary columns of the rows the created_at index
// finds, as pf reads its time index.
func (s sqliteHistory) Newest(ctx context.Context, since time.Time, n int) ([]imageSummary, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, created_at, agent_kind, agent_version, fingerprint, parents
		FROM manifests WHERE created_at >= ? ORDER BY created_at DESC LIMIT ?`, since.UnixNano(), n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []imageSummary
	for rows.Next() {
		var (
			id      string
			created int64
			parents []byte
			sum     imageSummary
		)
		if err := rows.Scan(&id, &created, &sum.agent.Kind, &sum.agent.Version, &sum.agent.Fingerprint, &parents); err != nil {
			return nil, err
		}
		if sum.id, err = manifest.ParseHex(id); err != nil {
			return nil, fmt.Errorf("sqlite: id %q: %w", id, err)
		}
		if len(parents)%32 != 0 {
			return nil, fmt.Errorf("sqlite: image %s: parents of %d bytes", id, len(parents))
		}
		for ; len(parents) > 0; parents = parents[32:] {
			sum.parents = append(sum.parents, manifest.Digest(parents))
		}
		sum.created = time.Unix(0, created).UTC()
		out = append(out, sum)
	}
	return out, rows.Err()
}

func (s sqliteHistory) Close() error { return s.db.Close() }
