// Package livedoc is a server for document-based business apps in which every user sees the latest
// data the moment it changes. An App ties the parts together: the store, the document engine with
// its hooks, authentication, and the HTTP API. Use it as a library to add DocTypes, hooks and
// whitelisted methods from Go, or run cmd/livedoc.
package livedoc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/livedoc/livedoc/api"
	"github.com/livedoc/livedoc/auth"
	"github.com/livedoc/livedoc/desk"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/docinfo"
	"github.com/livedoc/livedoc/files"
	"github.com/livedoc/livedoc/jobs"
	"github.com/livedoc/livedoc/realtime"
	"github.com/livedoc/livedoc/script"
	"github.com/livedoc/livedoc/store"
)

// Config configures an App.
type Config struct {
	Addr          string // listen address, default 127.0.0.1:8000
	DataDir       string // where the SQLite database lives, default ./livedoc-data
	Database      string // a postgres:// URL to use PostgreSQL instead of SQLite in DataDir
	Redis         string // a redis:// URL: the bus between the nodes of a cluster (default: one node)
	AdminPassword string // the Administrator's password on first start; generated when empty
	Logger        *slog.Logger
	// Realtime: the site name (Socket.IO namespace "/<Site>", Frappe's convention), browser
	// Origins allowed on sockets (default: the request's own host), and the recovery window.
	Site           string
	AllowedOrigins []string
	RecoveryWindow time.Duration
	// AllowSameHostname lets pages on this server's hostname but another port hold sockets (see
	// realtime.Options).
	AllowSameHostname bool
	// MetricsAddr, when set, is a listen address serving only the Prometheus metrics at /metrics,
	// to anyone who reaches it (keep it on a private interface). Off by default: on Addr,
	// /metrics is for System Managers only.
	MetricsAddr string
	// Realtime limits per client address (the TCP peer) and per user (Guests: per address); see
	// realtime.Options. 0 means the default, a negative value no limit.
	MaxConnectionsPerAddr int
	MaxSocketsPerUser     int
	HandshakeRate         float64
	HandshakeBurst        int
	// MaxFileSize is the largest file upload_file takes, in bytes; 0: files.DefaultMaxSize.
	MaxFileSize int64
	// DisableScripts turns Server Scripts off: none is run, and the Server Script DocType is not
	// installed (docs/scripts.md). Scripts bounds their runs.
	DisableScripts bool
	Scripts        script.Options
	// Jobs configures the background job workers (started by Serve) and the scheduler.
	Jobs jobs.Config
}

// App is one livedoc server.
type App struct {
	cfg      Config
	log      *slog.Logger
	db       *store.DB
	Engine   *doc.Engine
	Auth     *auth.Service
	API      *api.Server
	Realtime *realtime.Hub
	closers  []func() error
	Desk     *desk.Desk
	Docinfo  *docinfo.Info
	Files    *files.Files
	Jobs     *jobs.Queue
	Scripts  *script.Service // nil with Config.DisableScripts
}

// New opens the data directory and sets the App up; DocTypes, hooks and methods are added next.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8000"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "livedoc-data"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Site == "" {
		cfg.Site = "livedoc"
	}
	dsn, sqlite := cfg.Database, cfg.Database == ""
	if sqlite {
		dsn = filepath.Join(cfg.DataDir, "livedoc.db")
		if err := checkDataDir(cfg.DataDir, dsn); err != nil {
			return nil, err
		}
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		if sqlite {
			return nil, refuseDamaged(dsn, err)
		}
		return nil, err
	}
	a := &App{cfg: cfg, log: cfg.Logger, db: db}
	err = a.checkDatabase(ctx, dsn)
	if err == nil {
		err = a.setup(ctx)
	}
	if err == nil && sqlite {
		err = markInitialised(cfg.DataDir)
	}
	if err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) setup(ctx context.Context) error {
	var err error
	if a.Engine, err = doc.NewEngine(ctx, a.db, a.log); err != nil {
		return err
	}
	if a.Auth, err = auth.New(ctx, a.Engine); err != nil {
		return err
	}
	a.API = api.New(a.Engine, a.Auth, a.log)
	var bus realtime.Bus
	if a.cfg.Redis != "" {
		rb, err := realtime.NewRedisBus(a.cfg.Redis, a.cfg.Site, a.log)
		if err != nil {
			return err
		}
		a.closers = append(a.closers, rb.Shutdown)
		bus = rb
	}
	a.Realtime, err = realtime.New(ctx, a.Engine, a.Auth, realtime.Options{Site: a.cfg.Site, Bus: bus,
		AllowedOrigins: a.cfg.AllowedOrigins, AllowSameHostname: a.cfg.AllowSameHostname, RecoveryWindow: a.cfg.RecoveryWindow, Logger: a.log,
		MaxConnectionsPerAddr: a.cfg.MaxConnectionsPerAddr, MaxSocketsPerUser: a.cfg.MaxSocketsPerUser,
		HandshakeRate: a.cfg.HandshakeRate, HandshakeBurst: a.cfg.HandshakeBurst})
	if err != nil {
		return err
	}
	a.Desk = desk.New(a.Engine, a.API, desk.Options{Site: a.cfg.Site, Logger: a.log})
	if err := a.setupDocinfo(ctx); err != nil {
		return err
	}
	if a.cfg.Jobs.Logger == nil {
		a.cfg.Jobs.Logger = a.log
	}
	if a.Jobs, err = jobs.New(ctx, a.Engine, a.Realtime, a.Auth, a.cfg.Jobs); err != nil {
		return err
	}
	if !a.cfg.DisableScripts {
		if a.cfg.Scripts.Logger == nil {
			a.cfg.Scripts.Logger = a.log
		}
		if a.Scripts, err = script.New(ctx, a.Engine, a.Realtime, a.API, a.Jobs, a.cfg.Scripts); err != nil {
			return err
		}
	}
	generated, err := a.Auth.EnsureAdministrator(ctx, a.cfg.AdminPassword)
	if err != nil {
		return fmt.Errorf("create Administrator: %w", err)
	}
	if generated != "" {
		// Shown once: only its hash is stored.
		fmt.Fprintf(os.Stderr, "\nAdministrator created. Password (shown only this once): %s\n\n", generated)
	}
	return nil
}

// setupDocinfo declares the DocTypes Frappe's clients expect beside every document (Comment,
// Version, ToDo, Tag, Tag Link, File) the way apps declare theirs, with their hooks and methods.
func (a *App) setupDocinfo(ctx context.Context) error {
	a.Docinfo = docinfo.New(a.Engine, a.API, a.Realtime.Publish, a.Auth.UserIn)
	var err error
	a.Files, err = files.New(ctx, a.Engine, a.API, a.Realtime.Publish, files.Options{DataDir: a.cfg.DataDir,
		InDatabase: a.db.Dialect().Name() == "postgres", MaxSize: a.cfg.MaxFileSize, Logger: a.log})
	if err != nil {
		return err
	}
	dts, err := docinfo.DocTypes()
	if err != nil {
		return err
	}
	file, err := files.DocType()
	if err != nil {
		return err
	}
	if err := a.DocTypes(ctx, append(dts, file)...); err != nil {
		return err
	}
	return a.Files.Setup(ctx)
}

// PublishRealtime is Frappe's publish_realtime: send event with message to the target's room. With
// afterCommit it is sent only if c's transaction commits, and is logged for replay to clients that
// reconnect; without, it is sent at once.
func (a *App) PublishRealtime(c *doc.Context, event string, message any, target realtime.Target, afterCommit bool) error {
	return a.Realtime.Publish(c, event, message, target, afterCommit)
}

// On registers a lifecycle hook for a DocType, or "*" for all.
func (a *App) On(doctype, event string, h doc.Hook) { a.Engine.On(doctype, event, h) }

// HandleJob registers the Go function that runs the jobs of method.
func (a *App) HandleJob(method string, h jobs.Handler) { a.Jobs.Handle(method, h) }

// Enqueue adds a background job, run as the Administrator (in a transaction of your own, use
// App.Jobs.Enqueue: the job then exists iff that transaction commits).
func (a *App) Enqueue(ctx context.Context, method string, args map[string]any, opts jobs.Options) (string, error) {
	var id string
	err := a.Engine.Run(ctx, doc.AdminUser, true, func(c *doc.Context) (err error) {
		id, err = a.Jobs.Enqueue(c, method, args, opts)
		return err
	})
	return id, err
}

// Schedule runs the job method at every tick of spec (hourly, daily, weekly, monthly, yearly,
// all, or cron), on one node of the cluster per tick.
func (a *App) Schedule(spec, method string) error {
	return a.Jobs.Schedule(spec+" "+method, spec, method, nil)
}

// Whitelist exposes a method at /api/method/<name>.
func (a *App) Whitelist(name string, fn api.Method, opts api.MethodOptions) {
	a.API.Whitelist(name, fn, opts)
}

// DocTypes declares DocTypes from Go: new ones are created and changed ones migrated.
func (a *App) DocTypes(ctx context.Context, dts ...*doc.DocType) error {
	for _, dt := range dts {
		if err := dt.Validate(); err != nil {
			return err
		}
	}
	return a.Engine.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error { return c.Sudo().Sync(dts...) })
}

// LoadApp declares the DocTypes of an app folder: every JSON file under its doctype/ folder. Its
// public/*.js files are the DocTypes' client scripts in the desk (public/invoice.js → Invoice),
// its server_script/*.json its Server Scripts (Frappe's export shape).
func (a *App) LoadApp(ctx context.Context, dir string) error {
	return a.LoadAppFS(ctx, os.DirFS(dir))
}

// LoadAppFS is LoadApp for an embedded or virtual folder.
func (a *App) LoadAppFS(ctx context.Context, fsys fs.FS) error {
	var dts []*doc.DocType
	err := fs.WalkDir(fsys, "doctype", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".json" {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		dt, err := doc.ParseDocType(b)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		dts = append(dts, dt)
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := a.DocTypes(ctx, dts...); err != nil {
		return err
	}
	if a.Scripts != nil {
		if err := a.Scripts.LoadFS(ctx, fsys); err != nil {
			return err
		}
	}
	return a.Desk.AddClientScripts(fsys)
}

// Handler is the App's HTTP handler.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	a.API.Routes(mux)
	a.Realtime.Routes(mux, a.API)
	a.Desk.Routes(mux)
	a.Docinfo.Routes(mux)
	a.Files.Routes(mux)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/app", http.StatusFound)
	})
	return mux
}

// Serve listens on the configured address until ctx ends, then shuts down gracefully: it stops
// accepting, lets requests in flight finish (up to 10 s), and closes the database.
func (a *App) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return err
	}
	return a.ServeListener(ctx, ln)
}

// ServeListener is Serve on a listener the caller opened; the metrics listener of
// Config.MetricsAddr, if any, is opened here.
func (a *App) ServeListener(ctx context.Context, ln net.Listener) error {
	errLog := slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)
	var metrics *http.Server
	if a.cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", a.cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("metrics listener: %w", err)
		}
		metrics = &http.Server{Handler: a.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
		a.log.Info("metrics listening", "addr", "http://"+mln.Addr().String()+"/metrics")
		go func() {
			if err := metrics.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("metrics listener", "err", err)
			}
		}()
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	a.Jobs.Start()
	a.log.Info("livedoc listening", "addr", "http://"+ln.Addr().String(), "data", a.cfg.DataDir)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		a.log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Realtime.Close() // sockets and SSE streams end, so Shutdown need not wait for them
		err = errors.Join(srv.Shutdown(sctx), a.Close())
	}
	if metrics != nil {
		metrics.Close()
	}
	return err
}

// MetricsHandler serves the Prometheus metrics to anyone, as on Config.MetricsAddr: mount it only
// where the network already keeps strangers out.
func (a *App) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.Realtime.MetricsHandler())
	return mux
}

// Close stops the job workers and the realtime hub, and closes the bus and the database.
func (a *App) Close() error {
	if a.Jobs != nil {
		a.Jobs.Close()
	}
	if a.Realtime != nil {
		a.Realtime.Close()
	}
	var errs []error
	for _, c := range a.closers {
		errs = append(errs, c())
	}
	a.closers = nil
	return errors.Join(append(errs, a.db.Close())...)
}
