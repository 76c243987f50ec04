// Command livedoc runs the livedoc server with the sample invoice app.
//
//	livedoc serve [--addr HOST:PORT] [--data DIR] [--apps DIR,...] [--sample=false]
//	              [--db postgres://...] [--redis redis://...]
//	              [--site NAME] [--allowed-origins URL,...] [--recovery-window 2m] [--log-level info]
//	              [--metrics-addr HOST:PORT] [--pprof-addr HOST:PORT]
//	              [--max-connections-per-addr 1000] [--max-sockets-per-user 1000]
//	              [--handshake-rate 20] [--handshake-burst 200]
//	livedoc frappe-realtime --redis redis://... --site-url http://127.0.0.1:8000 (--sites-dir DIR | --site NAME ...) [--addr 127.0.0.1:9000] ...
//	livedoc publish --url URL --token KEY:SECRET --event EVENT [--message JSON] [--room R | --user U | --doctype D --docname N | --task-id T]
//
// Every flag can also be set as an environment variable: LIVEDOC_ADDR, LIVEDOC_DATA, LIVEDOC_APPS,
// LIVEDOC_SAMPLE, LIVEDOC_DB, LIVEDOC_REDIS, LIVEDOC_SITE, LIVEDOC_ALLOWED_ORIGINS,
// LIVEDOC_RECOVERY_WINDOW, LIVEDOC_LOG_LEVEL, LIVEDOC_METRICS_ADDR, LIVEDOC_PPROF_ADDR,
// LIVEDOC_MAX_CONNECTIONS_PER_ADDR, LIVEDOC_MAX_SOCKETS_PER_USER, LIVEDOC_HANDSHAKE_RATE,
// LIVEDOC_HANDSHAKE_BURST.
// LIVEDOC_ADMIN_PASSWORD sets the Administrator's password on first start.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/livedoc/livedoc"
	"github.com/livedoc/livedoc/examples/invoice"
	"github.com/livedoc/livedoc/files"
	"github.com/livedoc/livedoc/jobs"
	"github.com/livedoc/livedoc/realtime"
	"github.com/livedoc/livedoc/realtime/socketio"
	"github.com/livedoc/livedoc/script"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "publish":
		err = publish(os.Args[2:], os.Stdout)
	case "frappe-realtime":
		err = frappeRealtime(os.Args[2:])
	case "help", "-h", "--help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "livedoc: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "livedoc:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  livedoc serve [--addr HOST:PORT] [--data DIR] [--apps DIR,...] [--sample=false]
                [--db postgres://...] [--redis redis://...]
                [--site NAME] [--allowed-origins URL,...] [--recovery-window 2m] [--log-level info]
                [--metrics-addr HOST:PORT] [--pprof-addr HOST:PORT]
                [--max-connections-per-addr 1000] [--max-sockets-per-user 1000]
                [--handshake-rate 20] [--handshake-burst 200]
                [--scripts=false] [--script-timeout 5s] [--workers 2] [--job-lease 1m]
  livedoc publish --url URL --token KEY:SECRET --event EVENT [--message JSON]
                  [--room R | --user U | --doctype D --docname N | --task-id T]
  livedoc frappe-realtime --redis redis://... --site-url http://127.0.0.1:8000
                  (--sites-dir DIR | --site NAME ...) [--addr 127.0.0.1:9000] [--default-site NAME]
                  [--allowed-origins URL,...] [--site-timeout 5s] [--permission-ttl 10s]
                  [--recovery-window 2m] [--log-size 100000] [--metrics-addr HOST:PORT] [--log-level info]`)
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", env("LIVEDOC_ADDR", "127.0.0.1:8000"), "listen address")
	data := fs.String("data", env("LIVEDOC_DATA", "./livedoc-data"), "data directory")
	apps := fs.String("apps", env("LIVEDOC_APPS", ""), "comma-separated app folders whose doctype/*.json to load")
	sample := fs.Bool("sample", env("LIVEDOC_SAMPLE", "true") == "true", "serve the sample invoice app")
	logLevel := fs.String("log-level", env("LIVEDOC_LOG_LEVEL", "info"), "debug, info, warn or error")
	site := fs.String("site", env("LIVEDOC_SITE", "livedoc"), "site name: the Socket.IO namespace /<site> served besides /")
	origins := fs.String("allowed-origins", env("LIVEDOC_ALLOWED_ORIGINS", ""), "comma-separated browser Origins allowed on sockets besides the request's own host; answered with CORS")
	sameHostname := fs.Bool("allow-same-hostname", env("LIVEDOC_ALLOW_SAME_HOSTNAME", "false") == "true", "allow sockets from pages on this server's hostname but another port (Frappe's rule)")
	pprofAddr := fs.String("pprof-addr", env("LIVEDOC_PPROF_ADDR", ""), "serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060); off by default")
	metricsAddr := fs.String("metrics-addr", env("LIVEDOC_METRICS_ADDR", ""), "serve the Prometheus metrics openly at /metrics on this address (e.g. 127.0.0.1:9090); off by default, and on --addr only System Managers get them")
	database := fs.String("db", env("LIVEDOC_DB", ""), "a postgres:// URL to store data in PostgreSQL instead of SQLite in --data")
	redisURL := fs.String("redis", env("LIVEDOC_REDIS", ""), "a redis:// URL: the realtime bus shared by the nodes of a cluster")
	recovery := fs.Duration("recovery-window", envDuration("LIVEDOC_RECOVERY_WINDOW", 2*time.Minute), "how long a disconnected client can recover its session and missed events")
	// The limits: 0 means the built-in default, a negative value no limit.
	maxConnsPerAddr := fs.Int("max-connections-per-addr", envInt("LIVEDOC_MAX_CONNECTIONS_PER_ADDR", socketio.DefaultMaxConnectionsPerAddr),
		"Socket.IO (Engine.IO) connections open at once per client address, the TCP peer (negative: no limit)")
	maxSocketsPerUser := fs.Int("max-sockets-per-user", envInt("LIVEDOC_MAX_SOCKETS_PER_USER", realtime.DefaultMaxSocketsPerUser),
		"sockets connected at once per user, Guests per client address; as many disconnected sessions are kept for recovery (negative: no limit)")
	handshakeRate := fs.Float64("handshake-rate", envFloat("LIVEDOC_HANDSHAKE_RATE", socketio.DefaultHandshakeRate),
		"Socket.IO handshakes per second per client address, after a burst of --handshake-burst (negative: no limit)")
	handshakeBurst := fs.Int("handshake-burst", envInt("LIVEDOC_HANDSHAKE_BURST", socketio.DefaultHandshakeBurst),
		"handshakes a client address may make at once")
	maxFileSize := fs.Int("max-file-size", envInt("LIVEDOC_MAX_FILE_SIZE", files.DefaultMaxSize),
		"the largest file upload_file takes, in bytes (larger: 413)")
	scripts := fs.Bool("scripts", env("LIVEDOC_SCRIPTS", "true") == "true", "run Server Scripts (false: none runs, and the Server Script DocType is not installed)")
	scriptTimeout := fs.Duration("script-timeout", envDuration("LIVEDOC_SCRIPT_TIMEOUT", 5*time.Second), "how long one run of a DocType Event, API or Permission Query script may take")
	workers := fs.Int("workers", envInt("LIVEDOC_WORKERS", 2), "background job workers on this node (0: none)")
	jobLease := fs.Duration("job-lease", envDuration("LIVEDOC_JOB_LEASE", time.Minute),
		"how long a running job is its worker's before another node takes it (its node died)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *workers == 0 {
		*workers = -1 // jobs.Config: negative is none
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var allowed []string
	for o := range strings.SplitSeq(*origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			allowed = append(allowed, o)
		}
	}
	app, err := livedoc.New(ctx, livedoc.Config{Addr: *addr, DataDir: *data,
		AdminPassword: os.Getenv("LIVEDOC_ADMIN_PASSWORD"), Logger: log,
		Site: *site, AllowedOrigins: allowed, AllowSameHostname: *sameHostname, RecoveryWindow: *recovery, Database: *database, Redis: *redisURL,
		MetricsAddr:           *metricsAddr,
		MaxConnectionsPerAddr: *maxConnsPerAddr, MaxSocketsPerUser: *maxSocketsPerUser,
		HandshakeRate: *handshakeRate, HandshakeBurst: *handshakeBurst, MaxFileSize: int64(*maxFileSize),
		DisableScripts: !*scripts, Scripts: script.Options{Timeout: *scriptTimeout}, Jobs: jobs.Config{Workers: *workers, Lease: *jobLease}})
	if err != nil {
		return err
	}
	if *pprofAddr != "" {
		go servePprof(*pprofAddr, log)
	}
	if *sample {
		if err := invoice.Register(ctx, app, log); err != nil {
			app.Close()
			return fmt.Errorf("sample app: %w", err)
		}
	}
	for dir := range strings.SplitSeq(*apps, ",") {
		if dir = strings.TrimSpace(dir); dir == "" {
			continue
		}
		if err := app.LoadApp(ctx, dir); err != nil {
			app.Close()
			return fmt.Errorf("app %s: %w", dir, err)
		}
	}
	if err := app.Serve(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func envDuration(key string, def time.Duration) time.Duration {
	if v, ok := os.LookupEnv(key); ok {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func envInt(key string, def int) int {
	if v, ok := os.LookupEnv(key); ok {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

func envFloat(key string, def float64) float64 {
	if v, ok := os.LookupEnv(key); ok {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return f
		}
	}
	return def
}

func env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

// publish sends a realtime event through a running server's POST /api/realtime/publish.
func publish(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	url := fs.String("url", env("LIVEDOC_URL", "http://127.0.0.1:8000"), "server URL")
	token := fs.String("token", os.Getenv("LIVEDOC_TOKEN"), "API key and secret as KEY:SECRET (a System Manager's)")
	event := fs.String("event", "", "event name")
	message := fs.String("message", "null", "message as JSON")
	room := fs.String("room", "", "room")
	user := fs.String("user", "", "send to this user's room")
	doctype := fs.String("doctype", "", "with --docname: send to the document's room")
	docname := fs.String("docname", "", "document name")
	task := fs.String("task-id", "", "send to the task's room")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *event == "" || *token == "" {
		return errors.New("publish needs --event and --token")
	}
	if !json.Valid([]byte(*message)) {
		return errors.New("--message must be JSON")
	}
	body, _ := json.Marshal(map[string]any{"event": *event, "message": json.RawMessage(*message), "room": *room,
		"user": *user, "doctype": *doctype, "docname": *docname, "task_id": *task})
	req, err := http.NewRequest(http.MethodPost, strings.TrimSuffix(*url, "/")+"/api/realtime/publish", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "token "+*token)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("server answered %s: %s", resp.Status, answer)
	}
	fmt.Fprintf(out, "%s", answer)
	return nil
}

// servePprof serves net/http/pprof on its own address, apart from the application's mux.
func servePprof(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("pprof listening", "addr", "http://"+addr+"/debug/pprof/")
	if err := srv.ListenAndServe(); err != nil {
		log.Error("pprof", "err", err)
	}
}
