package script_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/livedoc/livedoc"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime/client"
)

// token makes API keys for user.
func token(t *testing.T, app *livedoc.App, user string) string {
	t.Helper()
	var tok string
	err := app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		key, secret, err := app.Auth.GenerateKeys(c, user)
		tok = key + ":" + secret
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// events is a socket's received events of one name.
type events struct {
	mu   sync.Mutex
	msgs []map[string]any
}

// dial connects a socket as the token's user, subscribed with each of subs ([event, arg]).
func dial(t *testing.T, url, tok string, name string, subs ...[2]string) *events {
	t.Helper()
	c, err := client.New(client.Options{URL: url, Namespace: "/livedoc", Auth: map[string]any{"token": tok}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ev := &events{}
	c.On(name, func(args []json.RawMessage) {
		var m map[string]any
		_ = json.Unmarshal(args[0], &m)
		ev.mu.Lock()
		ev.msgs = append(ev.msgs, m)
		ev.mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		res, err := c.EmitWithAck(ctx, s[0], s[1])
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(res[0], &m)
		if m["ok"] != true {
			t.Fatalf("%s %s: %v", s[0], s[1], m)
		}
	}
	return ev
}

// waitFor waits until a received message satisfies ok.
func (ev *events) waitFor(t *testing.T, what string, within time.Duration, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ev.mu.Lock()
		for _, m := range ev.msgs {
			if ok(m) {
				ev.mu.Unlock()
				return m
			}
		}
		ev.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (ev *events) all() []map[string]any {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return append([]map[string]any(nil), ev.msgs...)
}

// startRedis runs a redis-server of the test's own on a free port and returns its URL.
func startRedis(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return "redis://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
