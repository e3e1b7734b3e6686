// Package store opens the database (PostgreSQL or the embedded SQLite file)
// and applies the versioned, embedded schema migrations.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/backlinkoutreach/outreach/models"
)

//go:embed migrations
var migrations embed.FS

// Dialect names the database behind a *gorm.DB.
type Dialect string

// The two supported databases.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// DialectOf tells which database db talks to.
func DialectOf(db *gorm.DB) Dialect {
	if db.Name() == "postgres" {
		return Postgres
	}
	return SQLite
}

// Options configure Open.
type Options struct {
	// URL is a postgres:// URL; empty opens the SQLite file at SQLitePath.
	URL        string
	SQLitePath string
	Logger     *slog.Logger
	// Migrate applies pending migrations after connecting. The embedded
	// SQLite database is always migrated.
	Migrate bool
}

// Open connects, checks the connection and, where asked, migrates.
func Open(ctx context.Context, o Options) (*gorm.DB, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := &gorm.Config{
		Logger: logger.NewSlogLogger(log.With("component", "gorm"), logger.Config{
			SlowThreshold:             500 * time.Millisecond,
			LogLevel:                  logger.Warn,
			IgnoreRecordNotFoundError: true,
		}),
		NowFunc:                func() time.Time { return time.Now().UTC() },
		SkipDefaultTransaction: true,
		TranslateError:         true,
	}
	var (
		db  *gorm.DB
		err error
	)
	migrate := o.Migrate
	if o.URL != "" {
		db, err = gorm.Open(postgres.New(postgres.Config{DSN: o.URL}), cfg)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sqlDB, err := db.DB()
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(10)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	} else {
		if o.SQLitePath == "" {
			return nil, errors.New("open sqlite: no file path")
		}
		dir := filepath.Dir(o.SQLitePath)
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		// SQLite reports a directory it cannot write to as "out of
		// memory" or "readonly database"; say what it is.
		probe, err := os.CreateTemp(dir, ".writable-*")
		if err != nil {
			return nil, fmt.Errorf("open sqlite: the data directory %s is not writable: %w", dir, err)
		}
		_ = probe.Close()
		_ = os.Remove(probe.Name())
		db, err = gorm.Open(sqlite.Open(SQLiteDSN(o.SQLitePath)), cfg)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		sqlDB, err := db.DB()
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		// One writer at a time is SQLite's rule; a few connections let
		// readers (and a streaming export) proceed beside it.
		sqlDB.SetMaxOpenConns(8)
		startCheckpointer(ctx, sqlDB, log)
		migrate = true
	}
	if err := Ping(ctx, db); err != nil {
		Close(db)
		return nil, err
	}
	if migrate {
		if err := Migrate(ctx, db); err != nil {
			Close(db)
			return nil, err
		}
	}
	return db, nil
}

// SQLiteDSN adds the pragmas the engine relies on: foreign keys (deleting a
// campaign cascades), WAL (readers do not block the writer), a busy timeout,
// and IMMEDIATE transactions so two writers queue instead of deadlocking.
func SQLiteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Checkpoints run in the background (checkpoint.go); this is the
	// backstop.
	q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walBackstopPages))
	q.Set("_txlock", "immediate")
	// SQLite reads the name as a URI: an unescaped '#' or '?' in the path
	// would cut it short and open another file.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?" + q.Encode()
}

// Ping checks that the database answers.
func Ping(ctx context.Context, db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	return nil
}

// Close releases the connection pool.
func Close(db *gorm.DB) {
	if sqlDB, err := db.DB(); err == nil {
		stopCheckpointer(sqlDB)
		_ = sqlDB.Close()
	}
}

// Migrate applies every pending embedded migration for db's dialect. On
// PostgreSQL an advisory lock lets several processes start at once.
func Migrate(ctx context.Context, db *gorm.DB) error {
	p, err := provider(ctx, db)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

func provider(ctx context.Context, db *gorm.DB) (*goose.Provider, error) {
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	dialect, dir := goose.DialectSQLite3, "migrations/sqlite"
	var opts []goose.ProviderOption
	if DialectOf(db) == Postgres {
		dialect, dir = goose.DialectPostgres, "migrations/postgres"
		// The advisory lock is database-wide; keyed by schema, processes
		// migrating the same schema still exclude each other while
		// migrations of different schemas (one per test) do not queue.
		var schema string
		if err := db.WithContext(ctx).Raw("SELECT current_schema()").Scan(&schema).Error; err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		h := fnv.New64a()
		_, _ = h.Write([]byte("goose:" + schema))
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(int64(h.Sum64()>>1)), //nolint:gosec // shifted into int64 range
			lock.WithLockTimeout(1, 300),
		)
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	opts = append(opts, goose.WithGoMigrations(rekeyLeadsMigration(dialect == goose.DialectPostgres)))
	p, err := goose.NewProvider(dialect, sqlDB, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return p, nil
}

// ErrSchemaBehind means the database lacks migrations this binary needs.
var ErrSchemaBehind = errors.New("the database schema is behind this binary: run `outreach migrate`")

// CheckMigrated returns ErrSchemaBehind when migrations are pending.
func CheckMigrated(ctx context.Context, db *gorm.DB) error {
	p, err := provider(ctx, db)
	if err != nil {
		return err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if pending {
		return ErrSchemaBehind
	}
	return nil
}

// takeByID loads the row with this id among those q selects (q carries the
// owner, campaign, state and locking conditions). A malformed id and a row
// q does not select both answer notFound: another user's id cannot be told
// from one that never existed.
func takeByID[T any](q *gorm.DB, id string, notFound error, what string) (T, error) {
	var row T
	if !models.ValidID(id) {
		return row, notFound
	}
	err := q.Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return row, notFound
	}
	if err != nil {
		return row, fmt.Errorf("load %s: %w", what, err)
	}
	return row, nil
}

// markInserted reads the keys an INSERT … ON CONFLICT DO NOTHING
// RETURNING <key> answered (the rows it did not skip) and marks their
// positions, found through index, in fresh.
func markInserted(rows *sql.Rows, index map[string]int, fresh []bool) error {
	for rows.Next() {
		var key string
		if err := rows.Scan(&key); err != nil {
			_ = rows.Close()
			return err
		}
		if i, ok := index[key]; ok {
			fresh[i] = true
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	return rows.Err()
}
