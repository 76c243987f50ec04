package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// WritersWaiting reports whether a write transaction is queued for the writer.
func (db *DB) WritersWaiting() bool { return db.waiting.Load() > 0 }

// OpenPostgresConfig opens PostgreSQL with a pgx configuration (a test's own dialer).
func OpenPostgresConfig(ctx context.Context, cfg *pgx.ConnConfig) (*DB, error) {
	return openPostgresConfig(ctx, cfg)
}

// SetMaxConns bounds the connections of the pool.
func (db *DB) SetMaxConns(n int) { db.write.SetMaxOpenConns(n) }

// CachedStatements reports how many statements the caches hold prepared.
func (db *DB) CachedStatements() int {
	n := 0
	for _, c := range []*stmtCache{&db.wstmts, &db.rstmts} {
		c.mu.Lock()
		for _, st := range c.m {
			if st != nil {
				n++
			}
		}
		c.mu.Unlock()
	}
	return n
}
