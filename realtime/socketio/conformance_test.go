package socketio

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestSocketIOClientConformance runs tests/js/socketio/ (node --test)
// against the test application, with the real socket.io-client from
// tests/js/node_modules as the peer.
func TestSocketIOClientConformance(t *testing.T) {
	root := repoRoot(t)
	jsDir := filepath.Join(root, "tests", "js")
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (needed for the socket.io-client conformance tests): install Node.js, then run npm ci in tests/js")
	}
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "socket.io-client", "package.json")); err != nil {
		t.Fatalf("socket.io-client is not installed: run npm ci in tests/js (%v)", err)
	}

	// Frequent pings: every test also exercises the heartbeat.
	app := newTestApp(t, func(o *Options) {
		o.PingInterval = 100 * time.Millisecond
		o.PingTimeout = time.Second
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", filepath.Join("tests", "js", "socketio")+string(filepath.Separator))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "SOCKETIO_URL="+app.ts.URL, "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test tests/js/socketio/: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("%s", out)
	}
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
