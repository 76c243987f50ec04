package socketio

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The official test suites of the protocols (socket.io-protocol and engine.io-protocol, their
// test-suite/ folders, mocha + ws), run unchanged against echo servers built on this package as
// their SPEC.md describes them. The suites live outside the repository (../shared/conformance,
// read-only; LIVEDOC_CONFORMANCE_DIR overrides): each run copies one to a temporary folder,
// installs its pinned dependencies with npm ci, points its URL constant at the echo server, and
// fails on any case that does not pass.

func TestEngineIOProtocolSuite(t *testing.T) {
	t.Parallel()
	srv := NewServer(suiteOptions(Options{
		OnMessage: func(c *Conn, data []byte, binary bool) {
			if binary {
				c.SendBinary(data)
			} else {
				c.Send(data)
			}
		},
	}))
	runOfficialSuite(t, "engine.io-protocol", "/engine.io/", srv, 24)
}

func TestSocketIOProtocolSuite(t *testing.T) {
	t.Parallel()
	// The reference configuration of socket.io-protocol's SPEC.md: the auth payload is echoed as
	// "auth" on connect, "message" as "message-back", and "message-with-ack" answered by its ack.
	echo := func(s *Socket, event string, args []any, ack Ack) {
		switch {
		case event == "message":
			s.Emit("message-back", args...)
		case event == "message-with-ack" && ack != nil:
			ack(args...)
		}
	}
	srv := NewServer(suiteOptions(Options{
		ConnectTimeout: time.Second,
		Connect: func(r *ConnectRequest) (*ConnectReply, error) {
			if r.Namespace != "/" && r.Namespace != "/custom" {
				return nil, ErrInvalidNamespace
			}
			auth := r.Auth
			if auth == nil {
				auth = json.RawMessage(`{}`)
			}
			return &ConnectReply{Data: auth}, nil
		},
		// The suites read with ws 8.5, which emits the messages of one TCP read back to back,
		// and wait for each with a listener added after the previous one fired: two messages
		// in one read lose the second. This server writes the CONNECT answer and what OnConnect
		// sends in one system call (the reference server in two, one event-loop turn apart), so
		// the echo sends "auth" a little later: well before the first ping (300 ms), which the
		// suite expects after it.
		OnConnect: func(s *Socket) {
			time.AfterFunc(authDelay, func() { s.Emit("auth", s.Data()) })
		},
		OnEvent: func(s *Socket, event string, args []json.RawMessage, ack Ack) {
			values := make([]any, len(args))
			for i, a := range args {
				values[i] = a
			}
			echo(s, event, values, ack)
		},
		OnBinaryEvent: echo,
	}))
	runOfficialSuite(t, "socket.io-protocol", "/socket.io/", srv, 32)
}

// authDelay separates the echo's "auth" event from the CONNECT answer (see its OnConnect).
const authDelay = 50 * time.Millisecond

// suiteOptions adds what both suites expect of the server to o.
func suiteOptions(o Options) Options {
	o.PingInterval = 300 * time.Millisecond
	o.PingTimeout = 200 * time.Millisecond
	o.MaxPayload = 1e6
	o.HandshakeRate = -1 // the suites open sessions back to back from one address
	return o
}

// suiteExceptions lists the cases of each suite that are known to fail on purpose, by full
// title, with the reason (docs/architecture.md). There are none: every case must pass.
var suiteExceptions = map[string]string{}

// runOfficialSuite serves srv at path and runs the suite named name against it; want is the
// number of cases the suite holds, so that a case that stops running is noticed too.
func runOfficialSuite(t *testing.T, name, path string, srv *Server, want int) {
	src := filepath.Join(conformanceDir(t), name, "test-suite")
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("npm is not installed (needed for the official %s suite): install Node.js and npm", name)
	}
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatalf("the official %s suite: %v (set LIVEDOC_CONFORMANCE_DIR to the folder holding it)", name, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	mux := http.NewServeMux()
	mux.Handle(path, srv)
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
	})
	suite := filepath.Join(dir, "test-suite.js")
	b, err := os.ReadFile(suite)
	if err != nil {
		t.Fatal(err)
	}
	const urlLine = `const URL = "http://localhost:3000";`
	if strings.Count(string(b), urlLine) != 1 {
		t.Fatalf("%s: the line %s is not there once: the suite changed, adapt this test", suite, urlLine)
	}
	b = []byte(strings.Replace(string(b), urlLine, `const URL = "`+ts.URL+`";`, 1))
	if err := os.WriteFile(suite, b, 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci for the official %s suite: %v\n%s", name, err, out)
	}
	mocha := exec.CommandContext(ctx, "node", filepath.Join("node_modules", "mocha", "bin", "mocha"), "--reporter", "json", "test-suite.js")
	mocha.Dir = dir
	var stderr strings.Builder
	mocha.Stderr = &stderr
	out, runErr := mocha.Output() // mocha exits with the number of failures: read the report first

	var report struct {
		Stats struct {
			Tests, Passes, Failures, Pending int
		}
		Failures []struct {
			FullTitle string
			Err       struct{ Message string }
		}
		Passes []struct{ FullTitle string }
	}
	if err := json.Unmarshal(out, &report); err != nil {
		t.Fatalf("mocha for %s: %v; report unreadable (%v)\n%s\n%s", name, runErr, err, out, stderr.String())
	}
	failed := 0
	for _, f := range report.Failures {
		if why, ok := suiteExceptions[f.FullTitle]; ok {
			t.Logf("%s: %q fails, a deliberate exception: %s", name, f.FullTitle, why)
			continue
		}
		failed++
		t.Errorf("%s: %q failed: %s", name, f.FullTitle, f.Err.Message)
	}
	t.Logf("%s: %d of %d cases passed", name, report.Stats.Passes, want)
	if report.Stats.Passes+len(report.Failures)-failed != want || report.Stats.Pending != 0 {
		t.Errorf("%s: %d passed, %d failed, %d pending; want %d cases run\n%s", name,
			report.Stats.Passes, report.Stats.Failures, report.Stats.Pending, want, stderr.String())
	}
}

// conformanceDir is where the official suites are: LIVEDOC_CONFORMANCE_DIR, or
// ../shared/conformance beside the repository.
func conformanceDir(t *testing.T) string {
	if d := os.Getenv("LIVEDOC_CONFORMANCE_DIR"); d != "" {
		return d
	}
	return filepath.Join(repoRoot(t), "..", "shared", "conformance")
}
