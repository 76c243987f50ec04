package realtime

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/store"
)

// Event is one realtime message for the sockets in a room. Offset orders logged events (it is
// their position in the event log); immediate events are not logged and have Offset 0.
//
// DocType and Owner are set on the events that name a document (doc_update, list_update,
// doc_rename): they reach only the subscribers that may read that document, decided per recipient
// live, on replay and on every node. They never go to clients.
type Event struct {
	Offset  int64           `json:"offset"`
	Room    string          `json:"room"`
	Event   string          `json:"event"`
	Message json.RawMessage `json:"message"`
	DocType string          `json:"doctype,omitempty"`
	Owner   string          `json:"owner,omitempty"`
}

// Log is the durable event log: after-commit events are appended in the transaction of the change
// that caused them, so they exist if and only if it commits, numbered in causal order (append).
type Log struct {
	db *store.DB
}

// Log retention: events older than MaxAge, or beyond the newest MaxRows, are pruned. A client can
// recover only events still in the log, so MaxAge must exceed the recovery window.
const (
	DefaultLogMaxAge  = 15 * time.Minute
	DefaultLogMaxRows = 500_000
)

func newLog(ctx context.Context, e *doc.Engine) (*Log, error) {
	err := e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		if err := c.Tx.LockSchema(c); err != nil {
			return err
		}
		for _, q := range []string{
			// seq is the offset; pruning always keeps the newest row, so it is never reused.
			`CREATE TABLE IF NOT EXISTS __events (seq ` + c.Tx.Dialect().SerialPrimaryKey() + `, room TEXT NOT NULL,
				event TEXT NOT NULL, message TEXT NOT NULL, created TEXT NOT NULL)`,
			`CREATE INDEX IF NOT EXISTS __events_created ON __events (created)`,
		} {
			if _, err := c.Tx.Exec(c, q); err != nil {
				return err
			}
		}
		// Logs made before events carried their document's owner get the columns (Log.read
		// decides their rows as for a document nobody owns).
		return store.EnsureTable(c, c.Tx, "__events", "seq", []store.Column{
			{Name: "doctype", Kind: store.Text}, {Name: "owner", Kind: store.Text}})
	})
	if err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	return &Log{db: e.DB()}, nil
}

// append writes events in the caller's transaction and sets their offsets. It takes no lock:
// where transactions commit concurrently (PostgreSQL) a smaller offset may become visible after a
// larger one, and readers settle an offset before they pass over it (Log.settle). Offsets still
// follow causality: they are taken at COMMIT (the INSERT is the transaction's last statement,
// sent with its COMMIT in one round trip: store.Tx.AtCommit), after every row the transaction
// read or locked, so a transaction that saw another's change (a later save of the same document,
// one made after a change of rights) has the larger offsets. The offsets are set once the
// transaction has committed; on SQLite, as soon as append returns.
func (l *Log) append(c *doc.Context, events []Event) error {
	now := time.Now().UTC().Format(doc.DatetimeFormat)
	for len(events) > appendChunk {
		if err := l.insert(c, events[:appendChunk], now, false); err != nil {
			return fmt.Errorf("append to event log: %w", err)
		}
		events = events[appendChunk:]
	}
	if err := l.insert(c, events, now, true); err != nil {
		return fmt.Errorf("append to event log: %w", err)
	}
	return nil
}

// appendChunk bounds the rows of one INSERT (6 parameters each: SQLite allows 32,766).
const appendChunk = 256

// insert writes events with one multi-row INSERT: a save logs doc_update and list_update, and one
// statement for both is ~10 µs less per save (BenchmarkLogAppend, SQLite). The rows of one
// INSERT are numbered in VALUES order. On SQLite, whose single writer keeps other transactions
// from interleaving, the offsets follow from LastInsertId, its RETURNING being a third of the
// statement's time; on PostgreSQL another transaction's rows may take offsets in between and
// RETURNING's row order is not promised, so the offsets are sorted before they are handed out in
// event order. With atCommit the INSERT runs at COMMIT, where the dialect can (PostgreSQL).
func (l *Log) insert(c *doc.Context, events []Event, now string, atCommit bool) error {
	var q strings.Builder
	q.WriteString("INSERT INTO __events (room, event, message, created, doctype, owner) VALUES ")
	args := make([]any, 0, 6*len(events))
	for i := range events {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?)")
		ev := &events[i]
		args = append(args, ev.Room, ev.Event, string(ev.Message), now, nullable(ev.DocType), nullable(ev.Owner))
	}
	returning := c.Tx.Dialect().Returning("seq")
	if returning == "" {
		res, err := c.Tx.Exec(c, q.String(), args...)
		if err != nil {
			return err
		}
		last, err := res.LastInsertId()
		if err != nil {
			return err
		}
		for i := range events {
			events[i].Offset = last - int64(len(events)-1-i)
		}
		return nil
	}
	q.WriteString(returning)
	if atCommit {
		c.Tx.AtCommit(q.String(), args, func(rows *sql.Rows) error { return setOffsets(rows, events) })
		return nil
	}
	rows, err := c.Tx.Query(c, q.String(), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return setOffsets(rows, events)
}

// setOffsets gives events the offsets an INSERT ... RETURNING seq returned, in order.
func setOffsets(rows *sql.Rows, events []Event) error {
	seqs := make([]int64, 0, len(events))
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return err
		}
		seqs = append(seqs, seq)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(seqs) != len(events) {
		return fmt.Errorf("%d offsets returned for %d events", len(seqs), len(events))
	}
	slices.Sort(seqs)
	for i := range events {
		events[i].Offset = seqs[i]
	}
	return nil
}

// last returns the newest offset in the log (0 when empty).
func (l *Log) last(ctx context.Context) (int64, error) {
	tx, err := l.db.Begin(ctx, false)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var n int64
	err = tx.QueryRow(ctx, "SELECT COALESCE(MAX(seq), 0) FROM __events").Scan(&n)
	return n, err
}

// settleSpan bounds the offsets Log.settle decides, counted down from the top of its range; those
// further down are taken as final. One of them could still commit only if its transaction
// stalled between its append and its COMMIT while this many later events committed. The bound
// keeps a hub far behind, or just started, from writing many tombstones over offsets long pruned.
const settleSpan = 10_000

// settledLast returns the newest offset, once every offset up to it is final (settle), so that a
// starting hub's fan-out begins where no transaction can still commit below it.
func (l *Log) settledLast(ctx context.Context) (int64, error) {
	last, err := l.last(ctx)
	if err != nil || last == 0 {
		return last, err
	}
	return last, l.settle(ctx, 0, last)
}

// settle makes every offset in (after, upto] final where transactions commit concurrently: once
// it returns, each holds a committed event or a tombstone (an empty event name), and no
// transaction can still commit an event there. upto must not exceed an offset seen committed,
// so that every offset in the range has already been taken from the sequence (with its default
// cache of 1, nextval hands out offsets in time order).
//
// PostgreSQL's own unique check decides each offset with no visible row: the tombstone is
// inserted ON CONFLICT DO NOTHING, which waits for a transaction that logged that offset and has
// not ended (its index entry is there), then skips it if that one committed and writes the
// tombstone if it rolled back. A transaction caught between taking the offset and writing its
// index entry (the same INSERT, microseconds; readers settle only offsets missing for gapWait)
// loses: its own INSERT fails on the key and it rolls back with the change it logged. Either
// way no event ever commits at an offset a reader has passed over. Only the offsets' owners are
// waited for, not unrelated transactions, as waiting for a snapshot's xmin would.
func (l *Log) settle(ctx context.Context, after, upto int64) error {
	after = max(after, upto-settleSpan)
	if upto <= after || !l.db.Dialect().ConcurrentCommits() {
		return nil
	}
	tx, err := l.db.Begin(ctx, true)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.Exec(ctx, `INSERT INTO __events (seq, room, event, message, created) OVERRIDING SYSTEM VALUE
		SELECT g, '', '', '', ? FROM generate_series(?::bigint, ?::bigint) g ON CONFLICT (seq) DO NOTHING`, time.Now().UTC().Format(doc.DatetimeFormat), after+1, upto)
	if err != nil {
		return fmt.Errorf("settle the event log: %w", err)
	}
	return tx.Commit()
}

// errTooOld says the log no longer holds what a client missed.
var errTooOld = fmt.Errorf("the events after that offset are no longer in the log")

// since returns the events with after < offset <= upto in the given rooms (all rooms when rooms
// is nil), in order. It fails with errTooOld when events after `after` were pruned, and reads at
// most limit events (a larger gap is not worth replaying: the client reloads instead).
func (l *Log) since(ctx context.Context, after, upto int64, rooms []string, limit int) ([]Event, error) {
	tx, err := l.db.Begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// Tombstones are left out: settle may write some below the oldest event, over offsets that
	// were pruned, and those must still count as gone.
	var oldest int64
	if err := tx.QueryRow(ctx, "SELECT COALESCE(MIN(seq), 0) FROM __events WHERE event <> ''").Scan(&oldest); err != nil {
		return nil, err
	}
	if oldest > after+1 || (oldest == 0 && upto > after) {
		return nil, errTooOld
	}
	return l.read(ctx, tx, after, upto, rooms, limit)
}

// between returns the logged events with after < offset <= upto, in order, whatever was pruned:
// for the fan-out, which only needs what is there.
func (l *Log) between(ctx context.Context, after, upto int64) ([]Event, error) {
	tx, err := l.db.Begin(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return l.read(ctx, tx, after, upto, nil, 1<<20)
}

func (l *Log) read(ctx context.Context, tx *store.Tx, after, upto int64, rooms []string, limit int) ([]Event, error) {
	q := "SELECT seq, room, event, message, COALESCE(doctype, ''), COALESCE(owner, '') FROM __events WHERE seq > ? AND seq <= ? AND event <> ''"
	args := []any{after, upto}
	if rooms != nil {
		if len(rooms) == 0 {
			return nil, nil
		}
		q += " AND room IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(rooms)), ", ") + ")"
		for _, r := range rooms {
			args = append(args, r)
		}
	}
	q += fmt.Sprintf(" ORDER BY seq LIMIT %d", limit+1)
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var ev Event
		var msg string
		if err := rows.Scan(&ev.Offset, &ev.Room, &ev.Event, &msg, &ev.DocType, &ev.Owner); err != nil {
			return nil, err
		}
		ev.Message = json.RawMessage(msg)
		if ev.DocType == "" && slices.Contains(docEventNames, ev.Event) {
			// Logged before events carried their owner: sent to those who may read every document.
			ev.DocType = roomDocType(ev.Room)
		}
		out = append(out, ev)
	}
	// A read that fails part way (a damaged page, a lost connection) fails as a whole: a replay
	// that stopped early would skip events without anyone knowing.
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, errTooOld
	}
	return out, nil
}

// prune deletes events older than maxAge and all but the newest maxRows, but never the newest
// event: it holds the log's position across restarts.
func (l *Log) prune(ctx context.Context, maxAge time.Duration, maxRows int64) (int64, error) {
	tx, err := l.db.Begin(ctx, true)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	cutoff := time.Now().UTC().Add(-maxAge).Format(doc.DatetimeFormat)
	res, err := tx.Exec(ctx, `DELETE FROM __events WHERE seq < (SELECT MAX(seq) FROM __events)
		AND (created < ? OR seq <= (SELECT MAX(seq) FROM __events) - ?)`, cutoff, maxRows)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return n, tx.Commit()
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// docEventNames are the events that name a document, decided per recipient.
var docEventNames = []string{"doc_update", "list_update", "doc_rename"}

// roomDocType is the DocType of a doctype: or doc: room.
func roomDocType(room string) string {
	kind, rest, _ := strings.Cut(room, ":")
	if kind != "doctype" && kind != "doc" {
		return ""
	}
	dt, _, _ := strings.Cut(rest, "/")
	return dt
}
