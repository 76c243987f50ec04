// Command livedoc runs the livedoc server with the sample invoice app.
//
//	livedoc serve [--addr HOST:PORT] [--data DIR] [--apps DIR,...] [--sample=false]
//
// Every flag can also be set as an environment variable: LIVEDOC_ADDR, LIVEDOC_DATA, LIVEDOC_APPS,
// LIVEDOC_SAMPLE. LIVEDOC_ADMIN_PASSWORD sets the Administrator's password on first start.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/livedoc/livedoc"
	"github.com/livedoc/livedoc/examples/invoice"
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
	fmt.Fprintln(os.Stderr, `usage: livedoc serve [--addr HOST:PORT] [--data DIR] [--apps DIR,...] [--sample=false]`)
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", env("LIVEDOC_ADDR", "127.0.0.1:8000"), "listen address")
	data := fs.String("data", env("LIVEDOC_DATA", "./livedoc-data"), "data directory")
	apps := fs.String("apps", env("LIVEDOC_APPS", ""), "comma-separated app folders whose doctype/*.json to load")
	sample := fs.Bool("sample", env("LIVEDOC_SAMPLE", "true") == "true", "serve the sample invoice app")
	logLevel := fs.String("log-level", env("LIVEDOC_LOG_LEVEL", "info"), "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	app, err := livedoc.New(ctx, livedoc.Config{Addr: *addr, DataDir: *data,
		AdminPassword: os.Getenv("LIVEDOC_ADMIN_PASSWORD"), Logger: log})
	if err != nil {
		return err
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

func env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}
