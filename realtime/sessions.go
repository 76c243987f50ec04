package realtime

import (
	"context"
	"encoding/json"
	"time"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/store"
)

// Recovery sessions are kept in the database, not only in memory, so that a node that restarts
// (or, with a shared database, another node) can still restore a reconnecting client and replay
// what it missed from the log. A subscription is written before it is acknowledged
// (sessionsave.go); other changes (disconnects, open documents, recoveries) are written in batches
// once a second, so a crash may lose the last second of those — a client then recovers the rooms
// it was acked, or starts fresh and reloads; it never receives a wrong or partial replay.

const sessionFlushEvery = time.Second

// A session saved as connected has no left_at: its node may be alive, or may have died (SIGKILL,
// power) without a word. Each node therefore stamps its own row in __rt_nodes every few seconds,
// and a connected session counts as having left when its node was last known alive: it recovers
// on another node within the window after that, and expires after it, like any other.

func (h *Hub) createSessionTable(ctx context.Context) error {
	return h.e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		if err := c.Tx.LockSchema(c); err != nil {
			return err
		}
		_, err := c.Tx.Exec(c, `CREATE TABLE IF NOT EXISTS __rt_sessions (pid TEXT PRIMARY KEY, user_name TEXT NOT NULL,
			ns TEXT NOT NULL, rooms TEXT NOT NULL, open TEXT NOT NULL, start INTEGER NOT NULL, left_at TEXT)`)
		if err != nil {
			return err
		}
		if _, err := c.Tx.Exec(c, `CREATE TABLE IF NOT EXISTS __rt_nodes (node TEXT PRIMARY KEY, alive_at TEXT NOT NULL)`); err != nil {
			return err
		}
		// The node a connected session is on (rows saved before there was one expire at once).
		if err := store.EnsureTable(c, c.Tx, "__rt_sessions", "pid", []store.Column{{Name: "node", Kind: store.Text}}); err != nil {
			return err
		}
		// The credential a session was opened with (a hash or an API key, never a secret): a
		// recovery must present the same one, so a logged-out session cannot be recovered.
		return store.EnsureTable(c, c.Tx, "__rt_sessions", "pid", []store.Column{{Name: "cred", Kind: store.Text}})
	})
}

// markAlive stamps this node's row in __rt_nodes with the time.
func (h *Hub) markAlive(ctx context.Context) error {
	now := time.Now().UTC().Format(doc.DatetimeFormat)
	return h.e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Tx.Exec(c, `INSERT INTO __rt_nodes (node, alive_at) VALUES (?, ?)
			ON CONFLICT (node) DO UPDATE SET alive_at = excluded.alive_at`, h.node, now)
		return err
	})
}

// aliveTicks is how many session flushes (a second apart) go between two markAlive: at most 10
// seconds, and a quarter of the recovery window, so that a live node's sessions never look expired.
func (h *Hub) aliveTicks() int {
	return max(1, min(10, int(h.opts.RecoveryWindow/(4*sessionFlushEvery))))
}

// loadSessions restores the sessions a previous run left, as disconnected (those saved as
// connected, since their node was last known alive).
func (h *Hub) loadSessions(ctx context.Context) error {
	sessions, err := h.readSessions(ctx, "")
	for _, s := range sessions {
		h.sessions[s.pid] = s
		h.keepLocked(s)
	}
	return err
}

// loadSession reads one saved session: a client reconnecting to this node after its own node
// died, or after this one restarted.
func (h *Hub) loadSession(ctx context.Context, pid string) *session {
	sessions, err := h.readSessions(ctx, pid)
	if err != nil || len(sessions) == 0 {
		return nil
	}
	return sessions[0]
}

// readSessions reads saved sessions within the recovery window (all, or the one with pid). A
// session saved as connected counts as disconnected since its node was last known alive.
func (h *Hub) readSessions(ctx context.Context, pid string) ([]*session, error) {
	var out []*session
	err := h.e.Run(ctx, doc.AdminUser, false, func(c *doc.Context) error {
		q := `SELECT s.pid, s.user_name, s.ns, s.rooms, s.open, s.start, COALESCE(s.left_at, n.alive_at, ''), COALESCE(s.cred, '')
			FROM __rt_sessions s LEFT JOIN __rt_nodes n ON n.node = s.node`
		var args []any
		if pid != "" {
			q += " WHERE s.pid = ?"
			args = append(args, pid)
		}
		rows, err := c.Tx.Query(c, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var pid, user, ns, rooms, open, leftAt, cred string
			var start int64
			if err := rows.Scan(&pid, &user, &ns, &rooms, &open, &start, &leftAt, &cred); err != nil {
				return err
			}
			s := &session{pid: pid, user: &doc.User{Name: user}, cred: cred, ns: ns, start: start, key: user}
			if t, err := time.Parse(doc.DatetimeFormat, leftAt); err == nil {
				s.leftAt = t
			} // else: never known alive, so long gone
			if json.Unmarshal([]byte(rooms), &s.rooms) != nil || json.Unmarshal([]byte(open), &s.open) != nil {
				continue // unreadable: that client starts fresh
			}
			if time.Since(s.leftAt) <= h.opts.RecoveryWindow {
				out = append(out, s)
			}
		}
		return rows.Err()
	})
	return out, err
}

// markDirtyLocked schedules a session to be written. Called with h.mu held.
//
// Guest sessions are not written: anyone can open them, as fast as they can send CONNECTs, and
// each would cost a row. They are recoverable from this node's memory only (a restart, or another
// node of a cluster, starts them fresh), within the window and the caps of Options.
func (h *Hub) markDirtyLocked(s *session) {
	if s.user.Name == doc.Guest {
		return
	}
	if h.dirty == nil {
		h.dirty = map[string]*session{}
	}
	h.dirty[s.pid] = s
}

type sessionRow struct {
	pid, user, cred, ns, rooms, open, leftAt string
	start                                    int64
}

// flushSessions writes the sessions changed since the last flush, in one transaction. Only the
// session writer (and Close, once it has stopped) calls it. On failure the sessions are marked
// changed again, so the next round retries them.
func (h *Hub) flushSessions(ctx context.Context) error {
	h.mu.Lock()
	batch := h.dirty
	h.dirty = nil
	rows := make([]sessionRow, 0, len(batch))
	var gone []string
	for pid, s := range batch {
		if s == nil {
			gone = append(gone, pid)
			continue
		}
		rooms, _ := json.Marshal(s.rooms)
		open, _ := json.Marshal(s.open)
		r := sessionRow{pid: s.pid, user: s.user.Name, cred: s.cred, ns: s.ns, rooms: string(rooms), open: string(open), start: s.start}
		if s.conn == nil {
			r.leftAt = s.leftAt.UTC().Format(doc.DatetimeFormat)
		}
		rows = append(rows, r)
	}
	h.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := h.e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		for _, r := range rows {
			var leftAt any
			if r.leftAt != "" {
				leftAt = r.leftAt
			}
			_, err := c.Tx.Exec(c, `INSERT INTO __rt_sessions (pid, user_name, ns, rooms, open, start, left_at, cred, node) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (pid) DO UPDATE SET user_name = excluded.user_name, rooms = excluded.rooms, open = excluded.open, left_at = excluded.left_at,
				cred = excluded.cred, node = excluded.node`,
				r.pid, r.user, r.ns, r.rooms, r.open, r.start, leftAt, r.cred, h.node)
			if err != nil {
				return err
			}
		}
		for _, pid := range gone {
			if _, err := c.Tx.Exec(c, "DELETE FROM __rt_sessions WHERE pid = ?", pid); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		h.log.Warn("realtime: saving recovery sessions", "err", err, "sessions", len(batch))
		h.mu.Lock()
		for pid, s := range batch {
			if _, again := h.dirty[pid]; again || (s != nil && h.sessions[pid] != s) {
				continue // changed again (written next round as it is then), or forgotten meanwhile
			}
			if h.dirty == nil {
				h.dirty = map[string]*session{}
			}
			h.dirty[pid] = s
		}
		h.mu.Unlock()
	}
	return err
}

// expireSessions forgets sessions disconnected for longer than the recovery window, and the live
// lists parked longer than it.
func (h *Hub) expireSessions(ctx context.Context) {
	h.mu.Lock()
	for pid, s := range h.sessions {
		if time.Since(s.leftAt) > h.opts.RecoveryWindow {
			// Not resumed within the window (gone, or reconnected without wanting them).
			h.dropParkedLocked(s)
		}
		if s.conn == nil && time.Since(s.leftAt) > h.opts.RecoveryWindow {
			delete(h.sessions, pid)
			delete(h.dirty, pid)
			h.unkeepLocked(s)
		}
	}
	h.mu.Unlock()
	cutoff := time.Now().Add(-h.opts.RecoveryWindow).UTC().Format(doc.DatetimeFormat)
	err := h.e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		_, err := c.Tx.Exec(c, `DELETE FROM __rt_sessions WHERE CASE WHEN left_at IS NULL
			THEN NOT EXISTS (SELECT 1 FROM __rt_nodes n WHERE n.node = __rt_sessions.node AND n.alive_at >= ?)
			ELSE left_at < ? END`, cutoff, cutoff)
		if err != nil {
			return err
		}
		_, err = c.Tx.Exec(c, "DELETE FROM __rt_nodes WHERE alive_at < ?", cutoff)
		return err
	})
	if err != nil {
		h.log.Warn("realtime: expiring recovery sessions", "err", err)
	}
}
