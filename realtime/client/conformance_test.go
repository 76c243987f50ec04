package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The reference: the npm socket.io server (tests/js/node_modules) running
// testdata/server.js.

// startReferenceServer starts testdata/server.js and returns its URL.
func startReferenceServer(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	modules := filepath.Join(root, "tests", "js", "node_modules")
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed (needed for the socket.io conformance test): install Node.js, then run npm ci in tests/js")
	}
	if _, err := os.Stat(filepath.Join(modules, "socket.io", "package.json")); err != nil {
		t.Fatalf("socket.io is not installed: run npm ci in tests/js (%v)", err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "server.js"))
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the script exits when its stdin closes
		cancel()
		cmd.Wait()
	})

	ports := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ports <- strings.TrimSpace(line)
	}()
	port := recv(t, ports, "the reference server's port")
	if port == "" {
		cancel()
		cmd.Wait()
		t.Fatalf("reference server did not start:\n%s", stderr.String())
	}
	return "http://127.0.0.1:" + port
}

// repoRoot walks up from the working directory to the directory of go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// gatedDialer holds new TCP connections while closed.
type gatedDialer struct {
	mu   sync.Mutex
	open chan struct{} // closed while the gate is open
}

func newGatedDialer() *gatedDialer {
	g := &gatedDialer{open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gatedDialer) shut() {
	g.mu.Lock()
	g.open = make(chan struct{})
	g.mu.Unlock()
}

func (g *gatedDialer) release() {
	g.mu.Lock()
	close(g.open)
	g.mu.Unlock()
}

func (g *gatedDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func TestReferenceServer(t *testing.T) {
	url := startReferenceServer(t)

	t.Run("connect error", func(t *testing.T) {
		_, err := Dial(ctxT(t), Options{URL: url, Auth: map[string]any{"token": "bad"}})
		var ce *ConnectError
		if !errors.As(err, &ce) || ce.Message != "unauthorized: bad token" || string(ce.Data) != `{"code":401}` {
			t.Fatalf("Dial: %v", err)
		}
	})

	t.Run("site namespace", func(t *testing.T) {
		var echo <-chan string
		c := dial(t, Options{URL: url, Namespace: "/site"}, func(c *Client) { echo = events(c, "echo") })
		got, err := c.EmitWithAck(ctxT(t), "echo", "a", map[string]int{"b": 1})
		if err != nil || join(got) != `["a",{"b":1}]` {
			t.Fatalf("ack %s, %v", join(got), err)
		}
		c.Emit("echo", "x")
		// A direct emit gets an offset too when recovery is on.
		var args []json.RawMessage
		if e := recv(t, echo, "echo"); !strings.HasPrefix(e, `echo:["x","`) || json.Unmarshal([]byte(strings.TrimPrefix(e, "echo:")), &args) != nil {
			t.Fatalf("got %s", e)
		}
		if off, _ := jsonString(args[1]); off == "" || c.LastOffset() != off {
			t.Fatalf("LastOffset %q, event %s", c.LastOffset(), join(args))
		}
	})

	t.Run("ack from client", func(t *testing.T) {
		var answers <-chan string
		c := dial(t, Options{URL: url}, func(c *Client) {
			answers = events(c, "answer")
			c.OnWithAck("question", func(args []json.RawMessage) []any { return []any{"yes", args[0]} })
		})
		c.Emit("ask", 42)
		if got := recv(t, answers, "answer"); !strings.HasPrefix(got, `answer:["yes",42,"`) {
			t.Fatalf("got %s", got)
		}
	})

	t.Run("recovery", func(t *testing.T) {
		gate := newGatedDialer()
		// A's OnConnect and "bcast" handler, in the order they ran.
		log := make(chan string, 100)
		disconnects := make(chan string, 10)
		a := dial(t, Options{
			URL:        url,
			Auth:       map[string]any{"token": "a"},
			Reconnect:  true,
			HTTPClient: &http.Client{Transport: &http.Transport{DialContext: gate.DialContext}},
		}, func(c *Client) {
			c.On("bcast", func(args []json.RawMessage) { log <- "bcast:" + join(args) })
			c.OnConnect(func(recovered bool) { log <- fmt.Sprint("connect:", recovered) })
			c.OnDisconnect(func(reason string) { disconnects <- reason })
		})
		if recv(t, log, "OnConnect") != "connect:false" || a.Recovered() || a.PID() == "" {
			t.Fatalf("first connection: Recovered %v PID %q", a.Recovered(), a.PID())
		}
		var gone <-chan string
		b := dial(t, Options{URL: url}, func(c *Client) { gone = events(c, "gone") })

		// A receives a broadcast: it now has an offset to recover from.
		if _, err := b.EmitWithAck(ctxT(t), "broadcast", "before"); err != nil {
			t.Fatal(err)
		}
		if got := recv(t, log, "bcast"); !strings.HasPrefix(got, `bcast:["before","`) {
			t.Fatalf("got %s", got)
		}
		offset, pid, id := a.LastOffset(), a.PID(), a.ID()
		if offset == "" {
			t.Fatal("no offset recorded")
		}

		// Cut A's connection and keep it from reconnecting until the server
		// noticed and broadcast something A misses.
		gate.shut()
		a.CloseTransport()
		if r := recv(t, disconnects, "OnDisconnect"); r != "transport close" {
			t.Fatalf("OnDisconnect %q", r)
		}
		for {
			g := recv(t, gone, "gone")
			if strings.HasPrefix(g, `gone:["`+id+`",`) {
				break
			}
		}
		if _, err := b.EmitWithAck(ctxT(t), "broadcast", "missed"); err != nil {
			t.Fatal(err)
		}
		gate.release()

		// The missed broadcast is handled first, then OnConnect, as in
		// socket.io-client (socket.io sends missed packets before the
		// CONNECT answer).
		if got := recv(t, log, "missed bcast"); !strings.HasPrefix(got, `bcast:["missed","`) {
			t.Fatalf("got %s, want the missed bcast", got)
		}
		if got := recv(t, log, "OnConnect after reconnection"); got != "connect:true" {
			t.Fatalf("got %s, want connect:true", got)
		}
		if !a.Recovered() || a.PID() != pid || a.ID() != id {
			t.Fatalf("Recovered %v PID %q (was %q) ID %q (was %q)", a.Recovered(), a.PID(), pid, a.ID(), id)
		}
		// The server saw {token, pid, offset} and restored the session.
		got, err := a.EmitWithAck(ctxT(t), "auth")
		if err != nil {
			t.Fatal(err)
		}
		var auth map[string]string
		if len(got) != 2 || json.Unmarshal(got[0], &auth) != nil || string(got[1]) != "true" {
			t.Fatalf("auth ack %s", join(got))
		}
		if auth["token"] != "a" || auth["pid"] != pid || auth["offset"] != offset {
			t.Fatalf("server saw auth %v, want token a, pid %q, offset %q", auth, pid, offset)
		}
	})
}
