package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/livedoc/livedoc"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/store/storetest"
)

// sseEvent is one Server-Sent Event.
type sseEvent struct{ id, event, data string }

func readSSE(t *testing.T, body io.Reader, out chan<- sseEvent) {
	sc := bufio.NewScanner(body)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.event != "" {
				out <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
	close(out)
}

func next(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("stream ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
	}
	return sseEvent{}
}

func openSSE(t *testing.T, url, token, lastID string) (<-chan sseEvent, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "token "+token)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("SSE answered %d: %s", resp.StatusCode, b)
	}
	ch := make(chan sseEvent, 100)
	go readSSE(t, resp.Body, ch)
	return ch, func() { cancel(); resp.Body.Close() }
}

func TestPublishCommandAndSSEResume(t *testing.T) {
	ctx := context.Background()
	app, err := livedoc.New(ctx, livedoc.Config{DataDir: t.TempDir(), Database: storetest.DSN(t), AdminPassword: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler())
	defer func() { srv.Close(); app.Close() }()
	var token string
	err = app.Engine.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		key, secret, err := app.Auth.GenerateKeys(c, doc.Administrator)
		token = key + ":" + secret
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	events, stop := openSSE(t, srv.URL+"/api/realtime/sse?rooms=all,custom", token, "")
	pub := func(args ...string) {
		t.Helper()
		var out strings.Builder
		if err := publish(append([]string{"--url", srv.URL, "--token", token}, args...), &out); err != nil {
			t.Fatal(err)
		}
	}
	pub("--event", "hello", "--message", `{"a":1}`)
	first := next(t, events)
	if first.event != "hello" || first.data != `{"message":{"a":1},"room":"all"}` || first.id == "" {
		t.Fatalf("first event %+v", first)
	}
	stop()
	// Two events while no stream is open, then resume from the first one's id.
	pub("--event", "missed1", "--room", "custom", "--message", `"x"`)
	pub("--event", "missed2", "--message", `2`)
	events, stop = openSSE(t, srv.URL+"/api/realtime/sse?rooms=all,custom", token, first.id)
	defer stop()
	if a, b := next(t, events), next(t, events); a.event != "missed1" || b.event != "missed2" || a.id >= b.id {
		t.Fatalf("resumed with %+v then %+v", a, b)
	}
	pub("--event", "live", "--message", `3`)
	if ev := next(t, events); ev.event != "live" {
		t.Fatalf("live after resume: %+v", ev)
	}
	// Rooms are permission-checked: Guest may not listen to "all" or to a document.
	for _, rooms := range []string{"all", "doc:User/Administrator"} {
		resp, err := http.Get(srv.URL + "/api/realtime/sse?rooms=" + rooms)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("guest SSE on %s: %d", rooms, resp.StatusCode)
		}
	}
	// Publishing needs a System Manager: a bad token is refused.
	if err := publish([]string{"--url", srv.URL, "--token", "x:y", "--event", "e"}, io.Discard); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("publish with a bad token: %v", err)
	}
}
