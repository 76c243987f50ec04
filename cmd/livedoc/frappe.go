package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/livedoc/livedoc/frappert"
)

// sitesFlag collects repeated --site NAME (or NAME,NAME).
type sitesFlag []string

func (s *sitesFlag) String() string { return strings.Join(*s, ",") }

func (s *sitesFlag) Set(v string) error {
	for n := range strings.SplitSeq(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			*s = append(*s, n)
		}
	}
	return nil
}

// frappeRealtime serves an existing Frappe bench's realtime in place of `node socketio.js`
// (docs/frappe.md).
func frappeRealtime(args []string) error {
	fs := flag.NewFlagSet("frappe-realtime", flag.ContinueOnError)
	addr := fs.String("addr", env("LIVEDOC_ADDR", "127.0.0.1:9000"), "listen address (Frappe's socketio_port)")
	redisURL := fs.String("redis", env("LIVEDOC_REDIS", ""), "the bench's redis_socketio URL (redis_queue on newer benches), where Frappe publishes")
	siteURL := fs.String("site-url", env("LIVEDOC_SITE_URL", ""), "where the sites answer HTTP (gunicorn), e.g. http://127.0.0.1:8000")
	sitesDir := fs.String("sites-dir", env("LIVEDOC_SITES_DIR", ""), "the bench's sites/ folder: each folder with a site_config.json is served")
	var sites sitesFlag
	_ = sites.Set(env("LIVEDOC_SITES", ""))
	fs.Var(&sites, "site", "a site to serve (repeatable, or comma-separated)")
	defaultSite := fs.String("default-site", env("LIVEDOC_DEFAULT_SITE", ""), "the site of sockets opened on localhost (default: the bench's default_site)")
	origins := fs.String("allowed-origins", env("LIVEDOC_ALLOWED_ORIGINS", ""), "comma-separated browser Origins allowed besides the socket's own hostname")
	siteTimeout := fs.Duration("site-timeout", envDuration("LIVEDOC_SITE_TIMEOUT", 5*time.Second), "deadline of each call to a site")
	permTTL := fs.Duration("permission-ttl", envDuration("LIVEDOC_PERMISSION_TTL", 10*time.Second), "how long a site's permission answer is reused for the same session (negative: never)")
	recovery := fs.Duration("recovery-window", envDuration("LIVEDOC_RECOVERY_WINDOW", 2*time.Minute), "how long a disconnected client can recover its session and missed events")
	logSize := fs.Int("log-size", envInt("LIVEDOC_LOG_SIZE", 100_000), "events kept in memory for recovery")
	redisStream := fs.String("redis-stream", env("LIVEDOC_REDIS_STREAM", ""), "a Redis Stream key (on --redis) keeping a copy of the events and sessions, so that a restarted process recovers its clients; one process per key")
	metricsAddr := fs.String("metrics-addr", env("LIVEDOC_METRICS_ADDR", ""), "serve the Prometheus metrics openly on this address too (on --addr: to this machine only)")
	pprofAddr := fs.String("pprof-addr", env("LIVEDOC_PPROF_ADDR", ""), "serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060); off by default")
	logLevel := fs.String("log-level", env("LIVEDOC_LOG_LEVEL", "info"), "debug, info, warn or error")
	maxConnsPerAddr := fs.Int("max-connections-per-addr", envInt("LIVEDOC_MAX_CONNECTIONS_PER_ADDR", 0),
		"open connections per client address (0: no limit: behind Frappe's nginx every socket comes from the proxy)")
	handshakeRate := fs.Float64("handshake-rate", envFloat("LIVEDOC_HANDSHAKE_RATE", 0), "handshakes per second per client address (0: no limit)")
	handshakeBurst := fs.Int("handshake-burst", envInt("LIVEDOC_HANDSHAKE_BURST", 0), "handshakes a client address may make at once (0: no limit)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("frappe-realtime: unexpected argument %q", fs.Arg(0))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	var allowed []string
	for o := range strings.SplitSeq(*origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			allowed = append(allowed, o)
		}
	}
	srv, err := frappert.New(frappert.Config{Redis: *redisURL, SiteURL: *siteURL, Sites: sites, SitesDir: *sitesDir,
		DefaultSite: *defaultSite, AllowedOrigins: allowed, SiteTimeout: *siteTimeout, PermissionTTL: *permTTL,
		RecoveryWindow: *recovery, LogSize: *logSize, RedisStream: *redisStream, Logger: log,
		MaxConnectionsPerAddr: *maxConnsPerAddr, HandshakeRate: *handshakeRate, HandshakeBurst: *handshakeBurst})
	if err != nil {
		return err
	}
	defer srv.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	if *metricsAddr != "" {
		m := &http.Server{Addr: *metricsAddr, Handler: srv.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
		go func() {
			if err := m.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener", "err", err)
			}
		}()
		defer m.Close()
	}
	if *pprofAddr != "" {
		go servePprof(*pprofAddr, log)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	log.Info("frappe-realtime listening", "addr", ln.Addr().String(), "site_url", *siteURL, "sites", sites.String(), "sites_dir", *sitesDir)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
