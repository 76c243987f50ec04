package realtime_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
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
	a, b, _, site, tok := twoNodes(t, "d")
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

// A subscription whose session cannot be stored is not acknowledged, and the socket is not
// subscribed: the ack is an error, and once the store takes writes again a new subscribe holds
// the room once (not twice, as it would if the failed one had stayed).
func TestSubscribeThatCannotBeStoredIsRefused(t *testing.T) {
	n := startNode(t, storetest.DSN(t), "")
	defer n.app.Close()
	defer n.kill()
	tok := n.token(t, doc.Administrator)
	c := dial(t, n.url, tok, false)
	connect(t, c)
	refuse := []string{`CREATE TRIGGER refuse_sessions BEFORE INSERT ON __rt_sessions BEGIN SELECT RAISE(ABORT, 'sessions refused'); END`}
	allow := []string{"DROP TRIGGER refuse_sessions"}
	if storetest.Postgres() {
		refuse = []string{`CREATE FUNCTION refuse_sessions() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'sessions refused'; END $$`,
			`CREATE TRIGGER refuse_sessions BEFORE INSERT ON __rt_sessions FOR EACH ROW EXECUTE FUNCTION refuse_sessions()`}
		allow = []string{"DROP TRIGGER refuse_sessions ON __rt_sessions"}
	}
	exec := func(stmts []string) {
		t.Helper()
		err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
			for _, q := range stmts {
				if _, err := c.Tx.Exec(c, q); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	exec(refuse)
	ack := subscribe(t, c, "doctype_subscribe", "Invoice")
	if e, _ := ack["error"].(string); !strings.Contains(e, "could not be saved") {
		t.Fatalf("subscribe while sessions cannot be stored: %v", ack)
	}
	exec(allow)
	if ack := subscribe(t, c, "doctype_subscribe", "Invoice"); ack["ok"] != true {
		t.Fatalf("subscribe once sessions can be stored: %v", ack)
	}
	var rooms string
	err := n.app.Engine.Run(context.Background(), doc.AdminUser, false, func(tx *doc.Context) error {
		return tx.Tx.QueryRow(tx, "SELECT rooms FROM __rt_sessions WHERE pid = ?", c.PID()).Scan(&rooms)
	})
	if err != nil {
		t.Fatalf("the acknowledged session is not stored: %v", err)
	}
	var held map[string]int
	if err := json.Unmarshal([]byte(rooms), &held); err != nil || held["doctype:Invoice"] != 1 {
		t.Fatalf("stored rooms %s: the room is held %d times, want 1 (%v)", rooms, held["doctype:Invoice"], err)
	}
}
