// Package files is Frappe's File: uploads through /api/method/upload_file, public files at
// /files/<name> for anyone, private ones at /private/files/<name> for whoever may read a document
// the file is attached to (or its uploader, or a System Manager when it is attached to nothing).
// Contents live in the data directory, or in the database when it is shared by a cluster.
package files

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"strings"

	"github.com/livedoc/livedoc/api"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/docinfo"
)

//go:embed file.json
var fileJSON []byte

// DefaultMaxSize is the largest file accepted unless Options.MaxSize says otherwise (Frappe's
// default max_file_size is 10 MB; livedoc's 25 MiB).
const DefaultMaxSize = 25 << 20

// Options configure Files.
type Options struct {
	DataDir    string // where the disk storage keeps files: <DataDir>/public/files, <DataDir>/private/files
	InDatabase bool   // keep files in the database instead (for clusters on PostgreSQL)
	MaxSize    int64  // the largest file, in bytes; 0: DefaultMaxSize
	Logger     *slog.Logger
}

// Files serves File documents and their contents.
type Files struct {
	e       *doc.Engine
	api     *api.Server
	publish docinfo.Publisher
	store   storage
	maxSize int64
	log     *slog.Logger
}

// DocType is File, in Frappe v15's shape.
func DocType() (*doc.DocType, error) { return doc.ParseDocType(fileJSON) }

// New opens the storage and registers File's hooks and methods; the caller declares the DocType
// (DocType) and then calls Setup.
func New(ctx context.Context, e *doc.Engine, s *api.Server, publish docinfo.Publisher, opts Options) (*Files, error) {
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	f := &Files{e: e, api: s, publish: publish, maxSize: opts.MaxSize, log: opts.Logger}
	var err error
	if opts.InDatabase {
		f.store, err = newDatabase(ctx, e)
	} else {
		f.store, err = newDisk(opts.DataDir, opts.Logger.Warn)
	}
	if err != nil {
		return nil, err
	}
	e.On("File", doc.Validate, f.validate)
	e.On("File", doc.AfterInsert, f.afterInsert)
	e.On("File", doc.OnTrash, f.onTrash)
	s.Whitelist("frappe.desk.form.utils.remove_attach", f.removeAttach, api.MethodOptions{Methods: []string{http.MethodPost, http.MethodDelete}})
	return f, nil
}

// The folders every Frappe site has: files go to Home unless told otherwise.
const (
	home        = "Home"
	attachments = "Home/Attachments"
)

// Setup creates the Home and Home/Attachments folders when they are missing.
func (f *Files) Setup(ctx context.Context) error {
	return f.e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		if err := c.Tx.LockSchema(c); err != nil { // nodes starting together create them once
			return err
		}
		for _, folder := range []doc.Doc{
			{"name": home, "file_name": home, "is_home_folder": 1},
			{"name": attachments, "file_name": "Attachments", "folder": home, "is_attachments_folder": 1},
		} {
			if _, err := c.Sudo().Get("File", folder.Name()); err == nil {
				continue
			} else if e, ok := doc.AsError(err); !ok || e.Type != doc.DoesNotExistError {
				return err
			}
			folder["doctype"], folder["is_folder"] = "File", 1
			if _, err := c.Sudo().Insert(folder); err != nil {
				return err
			}
		}
		return nil
	})
}

// Routes serves upload_file and the files.
func (f *Files) Routes(mux *http.ServeMux) {
	mux.Handle("POST /api/method/upload_file", f.api.HandlerLimit(f.maxSize+formOverhead, f.upload))
	mux.Handle("GET /files/{name}", f.api.Handler(f.serve(false)))
	mux.Handle("GET /private/files/{name}", f.api.Handler(f.serve(true)))
}

// formOverhead is what an upload's body may hold beyond the file: the other form fields and the
// multipart framing.
const formOverhead = 64 << 10

// URL prefixes of the files livedoc stores, as Frappe's.
const (
	publicPrefix  = "/files/"
	privatePrefix = "/private/files/"
)

// keyOf is the storage key of a local file URL ("" for anything else, remote URLs included).
func keyOf(url string) string {
	if name, ok := strings.CutPrefix(url, privatePrefix); ok && safeName(name) == name {
		return "private/" + name
	}
	if name, ok := strings.CutPrefix(url, publicPrefix); ok && safeName(name) == name {
		return "public/" + name
	}
	return ""
}

// isLocal reports whether url points at a file this server stores (or claims to).
func isLocal(url string) bool {
	return strings.HasPrefix(url, publicPrefix) || strings.HasPrefix(url, privatePrefix)
}
