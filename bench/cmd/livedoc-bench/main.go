// Command livedoc-bench is livedoc's load generator: it drives a realtime server (livedoc, and
// later the peers people use instead) over loopback and reports latency, throughput, losses,
// memory and CPU.
//
//	livedoc-bench <scenario> --target livedoc --url URL [--admin-password PW | --token KEY:SECRET]
//	    --clients N --messages M --rate R --duration D [--json] ...
//
// Scenarios: idle, fanout, churn, recovery, save-to-screen, doc-view, live-list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/livedoc/livedoc/bench/internal/proc"
	"github.com/livedoc/livedoc/bench/internal/report"
	"github.com/livedoc/livedoc/bench/internal/scenario"
	"github.com/livedoc/livedoc/bench/internal/target"
)

const usage = `usage: livedoc-bench <scenario> [flags]

scenarios:
  idle     open --clients connections, each subscribed (livedoc: doctype:Invoice), keep them
           idle for --idle; report the server's RSS per connection and idle CPU
  fanout   --clients subscribers of one room (livedoc: all); publish --messages (or --rate x
           --duration) at --rate through the server's publish API; report delivery latency,
           deliveries/s, lost, out-of-order and CPU
  churn    fanout while --churn connections a second open, subscribe and close --churn-hold
           later; adds failed connects and connect time
  recovery fanout with reconnecting subscribers, --cuts of whose transports a second are cut;
           reports events missed after reconnecting (lost), reconnect time, restored sessions
  save-to-screen
           --writers save --docs documents through the REST API (--rate saves/s in all, 0: as
           fast as they go, for --duration or --messages saves) while --clients subscribers
           follow those documents and their list; reports commit-to-receive latency, saves/s, lost
  doc-view --clients viewers of one document that --writers save at --rate: --mode delta
           (doc_subscribe with {snapshot: true}, patched from each doc_update's changed) or
           --mode frappe (a GET per doc_update, as Frappe's form); reports saves/s, the viewers'
           GETs, server CPU per save, save-to-screen latency; lost: copies unequal to a GET
  live-list
           --clients live list queries with distinct filters over --rows documents while
           --writers insert, update (rows move in and out of results) and delete at --rate:
           --mode live (list_subscribe, list_change applied) or --mode frappe (list_update, then
           get_list again, one in flight per client); reports change-to-screen latency, server
           CPU per change, the clients' reads; lost: lists unequal to a fresh get_list

targets (--target):
  livedoc     livedoc (run-livedoc.sh); every scenario
  socketio    the Frappe-shaped Socket.IO server of bench/peers/socketio (--token,
              --redis); idle, fanout, churn
  centrifugo  Centrifugo (--token: API key and JWT secret); idle, fanout, churn
  pocketbase  PocketBase (--admin-password); idle, save-to-screen
  floor       bench/cmd/floor-server, the cheapest fan-out server (WebSocket, one write(2) per
              subscriber per round): the floor of this machine; --url is its HTTP address;
              idle, fanout, churn

flags:
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "livedoc-bench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, usage)
		newFlags(&scenario.Config{}, new(options)).PrintDefaults()
		if len(args) == 0 {
			return errors.New("no scenario")
		}
		return nil
	}
	name := args[0]
	var run func(context.Context, *scenario.Config) (*report.Result, error)
	switch name {
	case "idle":
		run = scenario.Idle
	case "fanout":
		run = scenario.Fanout
	case "churn":
		run = scenario.Churn
	case "recovery":
		run = scenario.Recovery
	case "save-to-screen":
		run = scenario.SaveToScreen
	case "doc-view":
		run = scenario.DocView
	case "live-list":
		run = scenario.LiveList
	default:
		return fmt.Errorf("unknown scenario %q (idle, fanout, churn, recovery, save-to-screen, doc-view, live-list)", name)
	}
	cfg := &scenario.Config{}
	o := new(options)
	fs := newFlags(cfg, o)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if name == "doc-view" || name == "live-list" {
		// The sizes (1,000 viewers or queries, 100 saves or changes a second) unless given.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["clients"] {
			cfg.Clients = 1000
		}
		if !set["rate"] {
			cfg.Rate = 100
		}
		if !set["writers"] {
			cfg.Writers = 4
		}
	}
	cfg.Defaults()
	if err := checkLoopback(o.url); err != nil {
		return err
	}
	if o.writeURL != "" && o.writeURL != o.url {
		if err := checkLoopback(o.writeURL); err != nil {
			return fmt.Errorf("--write-url: %w", err)
		}
	} else {
		o.writeURL = ""
	}
	if cfg.ServerPID == 0 && o.findPID {
		if pid, err := listenerPID(o.url); err == nil {
			cfg.ServerPID = pid
		} else {
			fmt.Fprintln(os.Stderr, "livedoc-bench: server pid not found:", err)
		}
	}
	if o.writeURL != "" && cfg.WriteServerPID == 0 && o.findPID {
		if pid, err := listenerPID(o.writeURL); err == nil {
			cfg.WriteServerPID = pid
		} else {
			fmt.Fprintln(os.Stderr, "livedoc-bench: write server pid not found:", err)
		}
	}
	if cfg.WriteServerPID == cfg.ServerPID {
		cfg.WriteServerPID = 0 // one process: its CPU is server_cpu
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400) // the generator trades memory for CPU
	}
	t, err := target.New(o.target, target.Options{URL: o.url, WriteURL: o.writeURL, AdminPassword: o.adminPassword, Token: o.token,
		Namespace: o.namespace, Redis: o.redis, SIDs: splitList(o.sids), Origin: o.origin})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = t.Setup(sctx)
	cancel()
	if err != nil {
		return err
	}
	cfg.Target = t
	res, err := run(ctx, cfg)
	if res != nil {
		params := []report.Row{{Key: "url", Value: o.url}}
		if o.writeURL != "" {
			params = append(params, report.Row{Key: "write_url", Value: o.writeURL})
		}
		res.Params = append(params, res.Params...)
		if o.json {
			res.JSON(os.Stdout)
		} else {
			res.Table(os.Stdout)
		}
	}
	if err == nil && o.check {
		err = check(res)
	}
	return err
}

// check is --check: the run completed (every connection made, not stopped by the timeout) and
// nothing was lost. It asserts no timing.
func check(res *report.Result) error {
	if res == nil {
		return errors.New("check: no result")
	}
	var bad []string
	lost, ok := res.Int("lost")
	if !ok {
		bad = append(bad, "no lost figure")
	} else if lost != 0 {
		bad = append(bad, fmt.Sprintf("lost = %d", lost))
	}
	for _, k := range []string{"connect_failed", "publish_errors", "save_errors", "churn_failed", "not_recovered", "still_disconnected", "read_errors", "apply_errors", "bad_documents", "change_errors"} {
		if v, ok := res.Int(k); ok && v != 0 {
			bad = append(bad, fmt.Sprintf("%s = %d", k, v))
		}
	}
	for _, n := range res.Notes {
		if strings.HasPrefix(n, "stopped by --timeout") {
			bad = append(bad, n)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("check failed (%s): %s", res.Scenario, strings.Join(bad, ", "))
	}
	fmt.Fprintf(os.Stderr, "livedoc-bench: check passed (%s): completed, lost = 0\n", res.Scenario)
	return nil
}

// splitList splits a comma-separated flag, dropping empty items.
func splitList(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

type options struct {
	target, url, writeURL, adminPassword, token, namespace, redis, sids, origin string
	json, findPID, check                                                        bool
}

func newFlags(cfg *scenario.Config, o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("livedoc-bench", flag.ContinueOnError)
	fs.StringVar(&o.target, "target", "livedoc", "server under test: livedoc, socketio (bench/peers/socketio), centrifugo, pocketbase, floor (bench/cmd/floor-server: --url is its HTTP address), frappe (a Frappe bench's realtime server: Frappe's socketio.js or livedoc frappe-realtime)")
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8000", "server URL (loopback only)")
	fs.StringVar(&o.writeURL, "write-url", "", "livedoc: another node of a cluster, where the setup, publishes and REST saves go while subscribers connect to --url (default: --url)")
	fs.StringVar(&o.adminPassword, "admin-password", os.Getenv("LIVEDOC_ADMIN_PASSWORD"), "Administrator's password: the bench generates an API key itself")
	fs.StringVar(&o.token, "token", os.Getenv("LIVEDOC_TOKEN"), "API key and secret as KEY:SECRET (a System Manager's)")
	fs.StringVar(&o.namespace, "namespace", "/livedoc", "Socket.IO namespace")
	fs.StringVar(&o.redis, "redis", "", "socketio, frappe: the Redis host:port whose `events` channel the server reads (publishes go there)")
	fs.StringVar(&o.sids, "sid", "", "frappe: the sessions' sid cookies, comma-separated (subscriber i presents the i-th modulo their number)")
	fs.StringVar(&o.origin, "origin", "", "frappe: the page Origin the subscribers send (the site's URL)")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
	fs.BoolVar(&o.check, "check", false, "exit non-zero unless the run completed with lost = 0 (and no failed connect, publish or save); no timing is checked")
	fs.BoolVar(&o.findPID, "find-server-pid", true, "without --server-pid, look for the process listening on the URL's port")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "the server's pid, for its memory and CPU from /proc (with --write-url: the --url node's)")
	fs.IntVar(&cfg.WriteServerPID, "write-server-pid", 0, "with --write-url: the writer node's pid, for its CPU (write_server_cpu; default: found like --server-pid)")
	fs.IntVar(&cfg.Clients, "clients", 100, "subscribers / connections")
	fs.IntVar(&cfg.Messages, "messages", 0, "fanout: messages to publish (0: rate x duration)")
	fs.Float64Var(&cfg.Rate, "rate", 10, "messages (save-to-screen, doc-view: saves; live-list: changes) per second; save-to-screen 0: as fast as possible")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "fanout: publishing time when --messages is 0")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Minute, "hard bound on the whole run")
	fs.DurationVar(&cfg.Drain, "drain", 10*time.Second, "fanout: longest wait for the last deliveries")
	fs.DurationVar(&cfg.Idle, "idle", 10*time.Second, "idle: window over which the idle CPU is measured")
	fs.IntVar(&cfg.Publishers, "publishers", 1, "fanout: concurrent publishers")
	fs.StringVar(&cfg.Room, "room", "", "room (livedoc: fanout all, idle doctype:Invoice; doctype:<DT> and doc:<DT>/<name> work too)")
	fs.StringVar(&cfg.Event, "event", "livedoc_bench", "event name published and listened to")
	fs.IntVar(&cfg.Payload, "payload", 110, "fanout: message size in bytes")
	fs.IntVar(&cfg.PerIP, "per-ip", 20000, "connections per source address (127.0.0.2, 127.0.0.3, ...)")
	fs.IntVar(&cfg.ConnectPar, "connect-concurrency", 64, "concurrent connection attempts")
	fs.Float64Var(&cfg.Churn, "churn", 20, "churn: connections opened (and closed --churn-hold later) per second")
	fs.DurationVar(&cfg.ChurnHold, "churn-hold", time.Second, "churn: how long each churning connection stays")
	fs.Float64Var(&cfg.Cuts, "cuts", 5, "recovery: subscriber transports cut per second")
	fs.IntVar(&cfg.Writers, "writers", 1, "save-to-screen, doc-view, live-list: concurrent writers")
	fs.IntVar(&cfg.Docs, "docs", 1, "save-to-screen: documents saved (writer w saves document w mod docs)")
	fs.BoolVar(&cfg.NoList, "no-list", false, "save-to-screen: subscribers follow the documents only, not their list")
	fs.StringVar(&cfg.Mode, "mode", "", "doc-view: delta (default) or frappe; live-list: live (default) or frappe")
	fs.IntVar(&cfg.Rows, "rows", 1000, "live-list: documents inserted before the load")
	return fs
}

// checkLoopback refuses URLs whose host is not a loopback address: all load stays on this machine.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--url %s: only loopback addresses (127.0.0.0/8, ::1, localhost) are allowed", raw)
	}
	return nil
}

func listenerPID(raw string) (int, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return 0, err
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return 0, fmt.Errorf("--url %s has no port", raw)
	}
	return proc.ListenerPID(port)
}
