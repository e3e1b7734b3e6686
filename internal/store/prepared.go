package store

import (
	"context"
	"database/sql"
	"sync"

	"gorm.io/gorm"
)

// SQLite's driver prepares a statement anew on every call, parsing its
// text and coding its triggers and foreign-key checks: a tenth of storing
// a page of replies went to preparing its five statements. The statements
// of fixed text run on every page are prepared once per connection pool
// instead, and database/sql reuses each connection's copy.
// (PostgreSQL's driver keeps its own statement cache.)

type stmtKey struct {
	pool  *sql.DB
	query string
}

// preparedStmts are the statements prepared, by pool and text; Close
// releases a pool's.
var preparedStmts sync.Map

func preparedStmt(ctx context.Context, pool *sql.DB, query string) (*sql.Stmt, error) {
	k := stmtKey{pool, query}
	if s, ok := preparedStmts.Load(k); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := preparedStmts.LoadOrStore(k, s); loaded {
		_ = s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// releasePrepared closes pool's prepared statements.
func releasePrepared(pool *sql.DB) {
	preparedStmts.Range(func(k, v any) bool {
		if k.(stmtKey).pool == pool {
			preparedStmts.Delete(k)
			_ = v.(*sql.Stmt).Close()
		}
		return true
	})
}

// stmtConn runs statements on a connection pool or a transaction of it,
// prepared once per pool when pool is set (SQLite); only statements of
// fixed text may go through it.
//
// Inside a transaction a statement not yet prepared runs as usual and is
// noted in missed, to be prepared after the commit (prepareMissed):
// preparing takes a connection from the pool, and a writer that holds one
// must not wait for another while the others wait for its write lock.
type stmtConn struct {
	gorm.ConnPool
	pool   *sql.DB
	missed *[]string
}

// preparing wraps conn, a statement's connection from db, so that its
// statements are prepared once on SQLite; missed collects those to prepare
// after the transaction.
func preparing(db *gorm.DB, conn gorm.ConnPool, missed *[]string) stmtConn {
	c := stmtConn{ConnPool: conn, missed: missed}
	if DialectOf(db) == SQLite {
		if pool, err := db.DB(); err == nil {
			c.pool = pool
		}
	}
	return c
}

// prepareMissed prepares the statements a transaction ran unprepared.
func prepareMissed(ctx context.Context, db *gorm.DB, missed []string) {
	if len(missed) == 0 || DialectOf(db) != SQLite {
		return
	}
	pool, err := db.DB()
	if err != nil {
		return
	}
	for _, q := range missed {
		// A failure only means the next run prepares it again.
		_, _ = preparedStmt(ctx, pool, q)
	}
}

func (c stmtConn) stmt(ctx context.Context, query string) (*sql.Stmt, bool, error) {
	if c.pool == nil {
		return nil, false, nil
	}
	switch conn := c.ConnPool.(type) {
	case *sql.Tx:
		s, ok := preparedStmts.Load(stmtKey{c.pool, query})
		if !ok {
			if c.missed != nil {
				*c.missed = append(*c.missed, query)
			}
			return nil, false, nil
		}
		return conn.StmtContext(ctx, s.(*sql.Stmt)), true, nil
	case *sql.DB:
		if conn != c.pool {
			return nil, false, nil
		}
		s, err := preparedStmt(ctx, c.pool, query)
		return s, err == nil, err
	}
	return nil, false, nil
}

func (c stmtConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, ok, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if !ok {
		return c.ConnPool.QueryContext(ctx, query, args...)
	}
	return s.QueryContext(ctx, args...)
}

func (c stmtConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, ok, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if !ok {
		return c.ConnPool.ExecContext(ctx, query, args...)
	}
	return s.ExecContext(ctx, args...)
}
