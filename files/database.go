package files

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"io/fs"
	"time"

	"github.com/livedoc/livedoc/doc"
)

// database keeps files in the table __files, written in the transaction that creates the File
// document: on PostgreSQL every node of a cluster serves every file, and a failed upload leaves
// nothing behind.
type database struct{ e *doc.Engine }

func newDatabase(ctx context.Context, e *doc.Engine) (*database, error) {
	blob := "BLOB"
	if e.DB().Dialect().Name() == "postgres" {
		blob = "BYTEA"
	}
	err := e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		if err := c.Tx.LockSchema(c); err != nil { // nodes starting together
			return err
		}
		_, err := c.Tx.Exec(c, `CREATE TABLE IF NOT EXISTS __files (path TEXT PRIMARY KEY, content `+blob+` NOT NULL,
			created TEXT NOT NULL)`)
		return err
	})
	return &database{e: e}, err
}

func (d *database) create(c *doc.Context, key string, content []byte) (bool, error) {
	res, err := c.Tx.Exec(c, `INSERT INTO __files (path, content, created) VALUES (?, ?, ?) ON CONFLICT (path) DO NOTHING`,
		key, content, doc.Now())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (d *database) discard(string) {} // the transaction's rollback took it

func (d *database) remove(c *doc.Context, key string) error {
	_, err := c.Tx.Exec(c, `DELETE FROM __files WHERE path = ?`, key)
	return err
}

func (d *database) open(ctx context.Context, key string) (io.ReadSeekCloser, time.Time, error) {
	var content []byte
	var created string
	err := d.e.Run(ctx, doc.AdminUser, false, func(c *doc.Context) error {
		return c.Tx.QueryRow(c, `SELECT content, created FROM __files WHERE path = ?`, key).Scan(&content, &created)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, fs.ErrNotExist
	} else if err != nil {
		return nil, time.Time{}, err
	}
	t, _ := time.Parse(doc.DatetimeFormat, created)
	return nopCloser{bytes.NewReader(content)}, t, nil
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }
