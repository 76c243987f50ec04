package realtime

import (
	"context"
	"testing"
	"time"

	"github.com/livedoc/livedoc/doc"
)

// Sessions saved as connected (left_at NULL: their node was SIGKILLed) expire by the time their
// node was last known alive. Before, every start reloaded them as just left and the expiry
// skipped them, so they stayed recoverable for good.
func TestConnectedSessionsOfADeadNodeExpire(t *testing.T) {
	window := time.Minute
	h, e, _ := newTestHub(t, Options{RecoveryWindow: window})
	ctx := context.Background()
	at := func(d time.Duration) string { return time.Now().Add(-d).UTC().Format(doc.DatetimeFormat) }
	err := e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{"INSERT INTO __rt_nodes (node, alive_at) VALUES (?, ?), (?, ?)", []any{"dead", at(2 * window), "alive", at(time.Second)}},
			{`INSERT INTO __rt_sessions (pid, user_name, ns, rooms, open, start, left_at, cred, node) VALUES
				('on-dead', 'Administrator', '/', '{}', '{}', 0, NULL, '', 'dead'),
				('on-none', 'Administrator', '/', '{}', '{}', 0, NULL, '', NULL),
				('on-alive', 'Administrator', '/', '{}', '{}', 0, NULL, '', 'alive'),
				('left-late', 'Administrator', '/', '{}', '{}', 0, ?, '', 'dead')`, []any{at(time.Second)}},
		} {
			if _, err := c.Tx.Exec(c, q.sql, q.args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for pid, want := range map[string]bool{"on-dead": false, "on-none": false, "on-alive": true, "left-late": true} {
		if got := h.loadSession(ctx, pid) != nil; got != want {
			t.Errorf("session %s recoverable: %v, want %v", pid, got, want)
		}
	}
	if s := h.loadSession(ctx, "on-alive"); s != nil && time.Since(s.leftAt) > 30*time.Second {
		t.Errorf("a connected session of a live node counts as left %v ago", time.Since(s.leftAt))
	}

	h.expireSessions(ctx)
	var left []string
	err = e.Run(ctx, doc.AdminUser, false, func(c *doc.Context) error {
		rows, err := c.Tx.Query(c, "SELECT pid FROM __rt_sessions WHERE pid IN ('on-dead', 'on-none', 'on-alive', 'left-late') ORDER BY pid")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var pid string
			if err := rows.Scan(&pid); err != nil {
				return err
			}
			left = append(left, pid)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || left[0] != "left-late" || left[1] != "on-alive" {
		t.Fatalf("after expiry: %v, want [left-late on-alive]", left)
	}
	var dead int
	err = e.Run(ctx, doc.AdminUser, false, func(c *doc.Context) error {
		return c.Tx.QueryRow(c, "SELECT COUNT(*) FROM __rt_nodes WHERE node = 'dead'").Scan(&dead)
	})
	if err != nil || dead != 0 {
		t.Fatalf("the dead node's row: %d, %v", dead, err)
	}
}
