package files

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/livedoc/livedoc/doc"
)

// disk keeps files under <data dir>/public/files and <data dir>/private/files, as a Frappe site
// does. Every access goes through an os.Root, so no key can reach outside those folders.
type disk struct {
	root *os.Root
	log  func(msg string, args ...any)
}

func newDisk(dir string, log func(string, ...any)) (*disk, error) {
	for _, sub := range []string{"public/files", "private/files"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return nil, err
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &disk{root: root, log: log}, nil
}

// path maps a key to its place under the root: "public/x" → "public/files/x".
func (d *disk) path(key string) string {
	dir, name := filepath.Split(key)
	return filepath.Join(dir, "files", name)
}

func (d *disk) create(c *doc.Context, key string, content []byte) (bool, error) {
	f, err := d.root.OpenFile(d.path(key), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	_, err = f.Write(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		d.discard(key)
		return false, err
	}
	return true, nil
}

func (d *disk) discard(key string) {
	if err := d.root.Remove(d.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.log("file not removed", "key", key, "err", err)
	}
}

func (d *disk) remove(c *doc.Context, key string) error {
	c.AfterCommit(func() { d.discard(key) })
	return nil
}

func (d *disk) open(ctx context.Context, key string) (io.ReadSeekCloser, time.Time, error) {
	f, err := d.root.Open(d.path(key))
	if err != nil {
		return nil, time.Time{}, err
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, time.Time{}, fs.ErrNotExist
	}
	return f, st.ModTime(), nil
}
