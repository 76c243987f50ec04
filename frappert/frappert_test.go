package frappert

import (
	"net/http/httptest"
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
