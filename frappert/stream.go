package frappert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// streamCopy keeps the event log and the recoverable sessions in Redis as well (--redis-stream), so
// that a restarted process can recover the browsers that reconnect to it: the events go to a
// Redis Stream (XADD, bounded by MAXLEN ~ LogSize) under ids 0-<offset>, so offsets stay the log's
// own sequence; each session is a key <stream>:session:<pid> that expires a recovery window after
// its socket left. Writes are queued and pipelined by one goroutine, off the fan-out's path: an
// event or session change made in the last moments before a crash may be missing, and then those
// clients start fresh, as without the stream. One process per stream: a second one would write
// ids the first already used.
type streamCopy struct {
	rdb    *redis.Client
	key    string
	maxLen int64
	window time.Duration
	log    *slog.Logger
	ops    chan streamOp
	stop   chan struct{}
	done   chan struct{}
	drops  func() // counts a write dropped because Redis could not keep up
}

type streamOp struct {
	event   *entry
	pid     string
	session []byte // nil with pid: delete
	ttl     time.Duration
}

// storedSession is a session as kept in Redis: the credential only as a hash (a reconnect must
// present the same one), the rooms it had joined (the site granted them).
type storedSession struct {
	Site     string   `json:"site"`
	User     string   `json:"user"`
	UserType string   `json:"user_type"`
	Cred     string   `json:"cred"`
	Rooms    []string `json:"rooms"`
	Open     []string `json:"open"`
}

func credHash(c credential) string {
	h := sha256.Sum256([]byte(c.key()))
	return hex.EncodeToString(h[:])
}

func newStreamCopy(url, key string, maxLen int, window time.Duration, log *slog.Logger, drops func()) (*streamCopy, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("frappe-realtime: --redis: %w", err)
	}
	sc := &streamCopy{rdb: redis.NewClient(opt), key: key, maxLen: int64(maxLen), window: window, log: log,
		ops: make(chan streamOp, 10_000), stop: make(chan struct{}), done: make(chan struct{}), drops: drops}
	go sc.write()
	return sc, nil
}

// load returns the newest kept events, oldest first.
func (sc *streamCopy) load(ctx context.Context) ([]entry, error) {
	msgs, err := sc.rdb.XRevRangeN(ctx, sc.key, "+", "-", sc.maxLen).Result()
	if err != nil {
		return nil, fmt.Errorf("frappe-realtime: reading the stream %s: %w", sc.key, err)
	}
	out := make([]entry, 0, len(msgs))
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		ms, seq, ok := strings.Cut(m.ID, "-")
		off, err := strconv.ParseInt(seq, 10, 64)
		if !ok || ms != "0" || err != nil {
			return nil, fmt.Errorf("frappe-realtime: the stream %s holds id %s, not one of ours (0-<offset>): give another --redis-stream", sc.key, m.ID)
		}
		str := func(k string) string { v, _ := m.Values[k].(string); return v }
		at, _ := strconv.ParseInt(str("at"), 10, 64)
		out = append(out, entry{offset: off, site: str("site"), room: str("room"), event: str("event"),
			message: json.RawMessage(str("message")), at: time.UnixMilli(at)})
	}
	return out, nil
}

// session reads a stored session; nil when there is none (expired, never stored).
func (sc *streamCopy) session(ctx context.Context, pid string) (*storedSession, error) {
	b, err := sc.rdb.Get(ctx, sc.key+":session:"+pid).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st storedSession
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// addEvent and putSession queue writes without blocking: past the queue's bound they are dropped
// (and counted) rather than slowing the fan-out.
func (sc *streamCopy) addEvent(e entry) { sc.queue(streamOp{event: &e}) }

// putSession stores a session for ttl (connected: refreshed by the maintenance; gone: the recovery
// window); session nil deletes it.
func (sc *streamCopy) putSession(pid string, session []byte, ttl time.Duration) {
	sc.queue(streamOp{pid: pid, session: session, ttl: ttl})
}

func (sc *streamCopy) queue(op streamOp) {
	select {
	case sc.ops <- op:
	default:
		sc.drops()
	}
}

// write pipelines what is queued, in order, until close; what is queued then is still written.
func (sc *streamCopy) write() {
	defer close(sc.done)
	for {
		var op streamOp
		select {
		case op = <-sc.ops:
		case <-sc.stop:
			if len(sc.ops) == 0 {
				return
			}
			op = <-sc.ops
		}
		pipe := sc.rdb.Pipeline()
		sc.add(pipe, op)
		for n := 1; n < 512 && len(sc.ops) > 0; n++ {
			sc.add(pipe, <-sc.ops)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := pipe.Exec(ctx); err != nil {
			sc.log.Warn("frappe-realtime: writing to the Redis stream", "stream", sc.key, "err", err)
		}
		cancel()
	}
}

func (sc *streamCopy) add(pipe redis.Pipeliner, op streamOp) {
	ctx := context.Background()
	switch {
	case op.event != nil:
		e := op.event
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: sc.key, MaxLen: sc.maxLen, Approx: true, ID: "0-" + strconv.FormatInt(e.offset, 10),
			Values: []any{"site", e.site, "room", e.room, "event", e.event, "message", string(e.message), "at", strconv.FormatInt(e.at.UnixMilli(), 10)}})
	case op.session == nil:
		pipe.Del(ctx, sc.key+":session:"+op.pid)
	default:
		pipe.Set(ctx, sc.key+":session:"+op.pid, op.session, op.ttl)
	}
}

// close writes what is queued and stops; later writes are dropped.
func (sc *streamCopy) close() {
	close(sc.stop)
	<-sc.done
	_ = sc.rdb.Close()
}

// storeLocked queues sess's copy (connected: kept a recovery window past the next refresh;
// gone: a recovery window from now). Called with s.mu held.
func (s *Server) storeLocked(sess *session) {
	if s.stream == nil {
		return
	}
	b, err := json.Marshal(storedSession{Site: sess.site, User: sess.user.User, UserType: sess.user.UserType,
		Cred: credHash(sess.cred), Rooms: keys(sess.rooms), Open: keys(sess.open)})
	if err != nil {
		return
	}
	s.stream.putSession(sess.pid, b, s.cfg.RecoveryWindow)
}

// storeConnected refreshes the copies of the connected sessions.
func (s *Server) storeConnected() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sess := range s.sessions {
		if sess.conn != nil {
			s.storeLocked(sess)
		}
	}
}

// restore brings back from the stream's copy a session this process does not know (one of the
// process before a restart), when the reconnect is the same site, user and credential; the site
// has just said who the credential is. It is then recoverable as any disconnected session.
func (s *Server) restore(ctx context.Context, pid, site string, cred credential, id identity) {
	s.mu.Lock()
	_, known := s.sessions[pid]
	s.mu.Unlock()
	if known {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := s.stream.session(ctx, pid)
	if err != nil {
		s.log.Warn("frappe-realtime: reading a session from the Redis stream's copy", "err", err)
		return
	}
	if st == nil || st.Site != site || st.Cred != credHash(cred) || st.User != id.User {
		return
	}
	sess := &session{pid: pid, site: site, user: id, cred: cred, rooms: map[string]bool{}, open: map[string]bool{}, leftAt: time.Now()}
	for _, r := range st.Rooms {
		if r != "all" || id.UserType == "System User" { // the site's answer of now decides
			sess.rooms[r] = true
		}
	}
	for _, r := range st.Open {
		sess.open[r] = true
	}
	s.mu.Lock()
	if _, known := s.sessions[pid]; known {
		s.mu.Unlock()
		return
	}
	s.sessions[pid] = sess
	s.mu.Unlock()
	s.perms.hold(sess.permKey())
}
