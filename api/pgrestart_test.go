package api_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"testing"
	"time"

	"github.com/livedoc/livedoc"
	"github.com/livedoc/livedoc/examples/invoice"
	"github.com/livedoc/livedoc/internal/apptest"
	"net/http/httptest"
)

// pgServer is a PostgreSQL of the test's own (initdb in a temp dir, a free port), so the test can
// stop and start it without touching the machine's shared server. PostgreSQL refuses to run as
// root: as root, it runs as the postgres user.
type pgServer struct {
	t    *testing.T
	dir  string
	port int
}

func pgBin(t *testing.T, name string) string {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) == 0 {
		t.Fatalf("%s not found: install Debian's postgresql package", name)
	}
	return matches[len(matches)-1]
}

func (p *pgServer) run(args ...string) {
	p.t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	if u, _ := user.Current(); u != nil && u.Uid == "0" {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	dir, err := os.MkdirTemp("", "livedoc-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if u, _ := user.Current(); u != nil && u.Uid == "0" {
		if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgServer{t: t, dir: filepath.Join(dir, "data"), port: ln.Addr().(*net.TCPAddr).Port}
	ln.Close()
	p.run(pgBin(t, "initdb"), "-D", p.dir, "-A", "trust", "-U", "postgres", "--no-sync")
	p.start()
	t.Cleanup(func() {
		_ = exec.Command("runuser", "-u", "postgres", "--", pgBin(t, "pg_ctl"), "-D", p.dir, "-m", "immediate", "stop").Run()
	})
	return p
}

func (p *pgServer) start() {
	p.run(pgBin(p.t, "pg_ctl"), "-D", p.dir, "-w", "-l", filepath.Join(p.dir, "log"),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", p.port, p.dir), "start")
}

func (p *pgServer) stop() { p.run(pgBin(p.t, "pg_ctl"), "-D", p.dir, "-w", "-m", "fast", "stop") }

func (p *pgServer) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// While PostgreSQL restarts, requests fail cleanly with 503; afterwards they work again, without
// restarting the node.
func TestPostgresRestartGives503ThenRecovers(t *testing.T) {
	pg := startPostgres(t)
	ctx := context.Background()
	app, err := livedoc.New(ctx, livedoc.Config{DataDir: t.TempDir(), Database: pg.url(), AdminPassword: adminPW})
	if err != nil {
		t.Fatal(err)
	}
	if err := invoice.Register(ctx, app, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler())
	defer func() { srv.Close(); app.Close() }()
	e := apptest.Serve(t, app)
	admin := e.Login("Administrator", adminPW)
	if status, body := admin.JSON("POST", "/api/resource/Customer", map[string]any{"customer_name": "Before"}); status != 200 {
		t.Fatalf("before the restart: %d %v", status, body)
	}
	pg.stop()
	for _, req := range [][2]string{{"GET", "/api/resource/Customer/Before"}, {"POST", "/api/resource/Customer"}} {
		status, body := admin.JSON(req[0], req[1], map[string]any{"customer_name": "During"})
		if status != 503 {
			t.Fatalf("%s %s with the database down: %d %v", req[0], req[1], status, body)
		}
		if typ, _ := excType(t, body); typ != "ServiceUnavailable" {
			t.Fatalf("exc_type %s", typ)
		}
	}
	pg.start()
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, body := admin.JSON("POST", "/api/resource/Customer", map[string]any{"customer_name": "After"})
		if status == 200 {
			break
		}
		if time.Now().After(deadline) || status != 503 {
			t.Fatalf("after the restart: %d %v", status, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status, _ := admin.JSON("GET", "/api/resource/Customer/Before", nil); status != 200 {
		t.Fatalf("data written before the restart: %d", status)
	}
}
