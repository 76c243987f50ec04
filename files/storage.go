package files

import (
	"context"
	"io"
	"time"

	"github.com/livedoc/livedoc/doc"
)

// storage keeps the files' contents by key: "public/<file name>" or "private/<file name>". Two
// kinds: the data directory (one node) and the database (every node of a cluster serves every
// file).
type storage interface {
	// create stores content under key in c's transaction, unless the key is taken (false). The
	// disk cannot take part in the transaction: it writes at once, and the caller discards the
	// file if the transaction fails.
	create(c *doc.Context, key string, content []byte) (bool, error)
	// discard removes what create wrote for a transaction that failed.
	discard(key string)
	// remove deletes the content once c's transaction commits.
	remove(c *doc.Context, key string) error
	// open reads a file's content; fs.ErrNotExist when there is none.
	open(ctx context.Context, key string) (io.ReadSeekCloser, time.Time, error)
}
