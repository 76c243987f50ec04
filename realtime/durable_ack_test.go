package realtime_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime"
	"github.com/livedoc/livedoc/realtime/client"
	"github.com/livedoc/livedoc/store/storetest"
)

// An acknowledged subscription survives its node's death at once: the node is killed right after
// the ack (no flush), the client reconnects to another node of the cluster with its pid and
// offset, is recovered, and gets every event committed after the kill. Before, sessions were
// written once a second, so the other node did not know the session (or its room): recovered
// false, or the events of the room never arrived.
func TestAckedSubscriptionSurvivesNodeKill(t *testing.T) {
	dsn := storetest.DSN(t)
	rs := startRedis(t, 0)
	redisURL := "redis://" + rs.addr()
	site := "d" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	a := startClusterNode(t, dsn, redisURL, site)
	b := startClusterNode(t, dsn, redisURL, site)
	tok := a.token(t, doc.Administrator)
	a.insert(t, doc.Doc{"doctype": "Customer", "customer_name": "ACME"})
	inv := a.insert(t, doc.Doc{"doctype": "Invoice", "customer": "ACME"}).Name()

	ca := dialNS(t, a.url, "/"+site, tok)
	connect(t, ca)
	if ack := subscribe(t, ca, "doc_subscribe", "Invoice", inv); ack["ok"] != true {
		t.Fatalf("doc_subscribe: %v", ack)
	}
	pid, offset := ca.PID(), ca.LastOffset()
	a.kill()
	realtime.Crash(a.app.Realtime)

	var saved []string
	for i := range 3 {
		err := b.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
			d, err := c.Get("Invoice", inv)
			if err != nil {
				return err
			}
			d["remarks"] = "after the kill " + strconv.Itoa(i)
			d, err = c.Save(d)
			if err == nil {
				saved = append(saved, d["modified"].(string))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	cb, err := client.New(client.Options{URL: b.url, Namespace: "/" + site, Auth: map[string]any{"token": tok, "pid": pid, "offset": offset}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cb.Close() })
	updates := collect(cb, "doc_update")
	connect(t, cb)
	if cb.PID() != pid {
		t.Fatalf("the other node answered pid %s, want the acknowledged session %s (not recovered)", cb.PID(), pid)
	}
	got := updates.waitFor(t, len(saved), 5*time.Second)
	for i, m := range saved {
		if got[i]["name"] != inv || got[i]["modified"] != m {
			t.Fatalf("doc_update %d after recovery: %v, want %s modified %s", i, got[i], inv, m)
		}
	}
	// Live events follow the replay on the new node.
	b.insert(t, doc.Doc{"doctype": "Invoice", "customer": "ACME"})
	err = b.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
		d, err := c.Get("Invoice", inv)
		if err != nil {
			return err
		}
		d["remarks"] = "live"
		_, err = c.Save(d)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	updates.waitFor(t, len(saved)+1, 5*time.Second)
}
