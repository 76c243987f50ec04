package frappert

import (
	"errors"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEventLogBounds(t *testing.T) {
	l := newEventLog(3, time.Minute)
	all := func(*entry) bool { return true }
	for i := 0; i < 5; i++ {
		l.append(entry{event: "e", at: time.Now()})
	}
	if l.last() != 5 {
		t.Fatalf("last = %d", l.last())
	}
	if got, ok := l.since(2, all); !ok || len(got) != 3 || got[0].offset != 3 || got[2].offset != 5 {
		t.Fatalf("since(2) = %v, %v: want offsets 3..5", got, ok)
	}
	if _, ok := l.since(1, all); ok {
		t.Fatal("since(1): offset 2 was pushed out, the client must start fresh")
	}
	if got, ok := l.since(5, all); !ok || len(got) != 0 {
		t.Fatalf("since(last) = %v, %v", got, ok)
	}
	if _, ok := l.since(9, all); ok {
		t.Fatal("an offset from the future (another process's) must start fresh")
	}
	old := newEventLog(10, time.Minute)
	old.append(entry{at: time.Now().Add(-2 * time.Minute)})
	old.append(entry{at: time.Now()})
	if _, ok := old.since(0, all); ok {
		t.Fatal("an event past maxAge is gone: replaying from before it must start fresh")
	}
}

func TestPermCacheFollowsHolders(t *testing.T) {
	c := newPermCache(time.Minute)
	c.put("k", "ToDo", "T-1", true) // nobody holds k: not kept
	if _, found := c.get("k", "ToDo", "T-1"); found {
		t.Fatal("kept an answer for a credential no socket holds")
	}
	c.hold("k")
	c.hold("k")
	c.put("k", "ToDo", "T-1", false)
	if ok, found := c.get("k", "ToDo", "T-1"); !found || ok {
		t.Fatalf("get = %v, %v", ok, found)
	}
	c.release("k")
	if _, found := c.get("k", "ToDo", "T-1"); !found {
		t.Fatal("dropped while a holder remains")
	}
	c.release("k")
	if _, found := c.get("k", "ToDo", "T-1"); found || c.size() != 0 {
		t.Fatal("kept after the last holder left")
	}
	c.hold("k")
	c.put("k", "ToDo", "", true)
	c.creds["k"].answers[[2]string{"ToDo", ""}] = permAnswer{true, time.Now().Add(-2 * time.Minute)} // given long ago
	if _, found := c.get("k", "ToDo", ""); found {
		t.Fatal("an answer outlived its TTL")
	}
}

func TestSiteOf(t *testing.T) {
	s := &Server{cfg: Config{DefaultSite: "main.test", Sites: []string{"a.test"}}}
	cases := []struct {
		host, origin, header, want string
	}{
		{"127.0.0.1:9000", "", "a.test", "a.test"},
		{"localhost:9000", "http://localhost:8000", "", "main.test"},
		{"erp.example.com", "https://erp.example.com", "", "erp.example.com"},
		{"10.0.0.1:9000", "", "", "10.0.0.1"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "http://"+c.host+"/socket.io/", nil)
		r.Host = c.host
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if c.header != "" {
			r.Header.Set("X-Frappe-Site-Name", c.header)
		}
		if got := s.siteOf(r); got != c.want {
			t.Errorf("%+v: site %q", c, got)
		}
	}
	for _, bad := range []string{"../etc", "", "a/b", ".hidden"} {
		if s.served(bad) {
			t.Errorf("served(%q)", bad)
		}
	}
	if !s.served("a.test") || s.served("b.test") {
		t.Error("served: only the configured sites")
	}
}

func TestFlightsShareOnlyCallsInFlight(t *testing.T) {
	var f flights
	release := make(chan struct{})
	var calls, joins atomic.Int32
	var wg sync.WaitGroup
	results := make(chan error, 5)
	for range 5 {
		wg.Go(func() {
			_, err := f.do("k", func() ([]byte, error) {
				calls.Add(1)
				<-release
				return nil, errors.New("site down")
			}, func() { joins.Add(1) })
			results <- err
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load()+joins.Load() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("calls %d + joins %d, want 5", calls.Load(), joins.Load())
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(results)
	for err := range results {
		if err == nil || err.Error() != "site down" {
			t.Fatalf("a waiter got %v, want the call's error", err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("%d calls for 5 asks in flight together", calls.Load())
	}
	body, err := f.do("k", func() ([]byte, error) { calls.Add(1); return []byte("true"), nil }, func() { t.Error("joined a finished call") })
	if err != nil || string(body) != "true" || calls.Load() != 2 {
		t.Fatalf("after the failure: %q, %v, %d calls: the error must not be kept", body, err, calls.Load())
	}
}
