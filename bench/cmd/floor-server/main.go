//go:build linux

// Command floor-server is the cheapest fan-out server we can write (package
// bench/internal/floor), one HTTP server on --http: subscribers open a WebSocket on GET /subscribe
// and get every message as one text frame; POST /publish queues one (the body), GET /health
// answers with the subscribers' path and count. It measures the physical floor of a fan-out on
// this machine: one write(2) per subscriber per round, nothing else.
//
//	floor-server --http 127.0.0.1:PORT
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"

	"github.com/livedoc/livedoc/bench/internal/floor"
)

func main() {
	httpAddr := flag.String("http", "127.0.0.1:9101", "the server's address (GET /subscribe: WebSocket, POST /publish, GET /health)")
	flag.Parse()
	// Pinned to one CPU, Go runs one P. The writer's rounds (~25 ms at 5,000 subscribers: raw
	// writes, which never block) then keep it, and a publish waits for the end of the round or
	// sysmon's 10 ms preemption: the bench's one publisher, waiting for each answer, was throttled
	// to 39 messages/s instead of 50. With a second P, a thread waiting in the netpoller takes a
	// publish when it arrives, the kernel sharing the one CPU between it and the writer, and the
	// publishes that arrive during a round are coalesced into the next one as designed.
	// (GOMAXPROCS in the environment still wins.)
	if os.Getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
	hl, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		log.Fatal(err)
	}
	s := floor.New()
	fmt.Fprintf(os.Stderr, "floor-server: subscribers on ws://%s%s, publish API on http://%s\n", hl.Addr(), floor.SubscribePath, hl.Addr())
	log.Fatal(http.Serve(hl, s.Handler()))
}
