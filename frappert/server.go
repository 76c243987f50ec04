// Package frappert serves an existing Frappe site's realtime: it takes the place of Frappe's Node
// socket.io server (`node socketio.js`) for any number of sites, with the same rooms and events,
// and adds what that server lacks: connection state recovery from an event log with offsets,
// cached permission answers, bounded queues, metrics. Frappe publishes to the Redis channel
// "events"; who a socket is and what it may read are asked of the site over HTTP. The protocol
// is livedoc's own Socket.IO server (realtime/socketio).
package frappert

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livedoc/livedoc/internal/origin"
	"github.com/livedoc/livedoc/realtime/socketio"
)

// Config configures a Server. Zero fields take the defaults noted.
type Config struct {
	Redis       string   // redis://host:port/db of the site's redis_socketio (or redis_queue)
	SiteURL     string   // where the sites answer HTTP, e.g. http://127.0.0.1:8000 (gunicorn)
	Sites       []string // sites served, besides those of SitesDir
	SitesDir    string   // a bench's sites/ folder: every folder with a site_config.json is served
	DefaultSite string   // the site of sockets opened on localhost without X-Frappe-Site-Name

	// AllowedOrigins are browser Origins allowed besides the socket's own hostname on any port
	// (Frappe's rule: hostname(Origin) == hostname(Host)).
	AllowedOrigins []string

	SiteTimeout    time.Duration // deadline of each call to a site; default 5s
	PermissionTTL  time.Duration // how long a has_permission answer is reused; default 10s, negative: never
	RecoveryWindow time.Duration // how long a disconnected socket can recover; default 2 minutes
	LogSize        int           // events kept for recovery; default 100,000
	SendQueueBytes int           // per-connection send queue before the client is dropped; default 1 MiB
	// RedisStream, when set, is the key of a Redis Stream (on Redis) that keeps a copy of the
	// event log and the sessions, so that a restarted process recovers its clients (stream.go).
	RedisStream string
	// Per client address: open Engine.IO connections, and handshakes per second after a burst.
	// Behind Frappe's nginx every socket comes from the proxy's address (its config sets no
	// X-Forwarded-For), so these are off by default (0: off, as a negative value); set them when
	// browsers connect directly.
	MaxConnectionsPerAddr int
	HandshakeRate         float64
	HandshakeBurst        int

	Logger *slog.Logger
}

// Server is the realtime server of a bench.
type Server struct {
	cfg     Config
	log     *slog.Logger
	sio     *socketio.Server
	origins origin.Policy
	client  *http.Client
	perms   *permCache
	flights flights // calls to the sites in flight
	metrics *metrics
	redis   *subscriber
	stream  *streamCopy    // nil without Config.RedisStream
	out     socketio.Batch // the Redis goroutine's writes, flushed after each event
	stop    chan struct{}
	done    sync.WaitGroup

	mu       sync.Mutex
	elog     *eventLog
	rooms    map[string]map[*conn]struct{} // by site + "\x00" + room
	conns    map[*conn]struct{}
	sessions map[string]*session // by pid: connected, or kept for recovery
}

// New checks cfg and starts serving: it subscribes to Redis at once (events published before a
// socket connects are kept for nobody, as with Frappe's server).
func New(cfg Config) (*Server, error) {
	if cfg.Redis == "" {
		return nil, errors.New("frappe-realtime: --redis is required (the site's redis_socketio URL)")
	}
	if cfg.SiteURL == "" || !(strings.HasPrefix(cfg.SiteURL, "http://") || strings.HasPrefix(cfg.SiteURL, "https://")) {
		return nil, errors.New("frappe-realtime: --site-url must be the sites' http(s):// address, e.g. http://127.0.0.1:8000")
	}
	if len(cfg.Sites) == 0 && cfg.SitesDir == "" {
		return nil, errors.New("frappe-realtime: name the sites with --site NAME or --sites-dir DIR")
	}
	if cfg.DefaultSite == "" && cfg.SitesDir != "" {
		cfg.DefaultSite = benchDefaultSite(cfg.SitesDir)
	}
	for _, s := range append(cfg.Sites, cfg.DefaultSite) {
		if s != "" && !siteName.MatchString(s) {
			return nil, errors.New("frappe-realtime: invalid site name " + strconv.Quote(s))
		}
	}
	if cfg.SiteTimeout <= 0 {
		cfg.SiteTimeout = 5 * time.Second
	}
	if cfg.PermissionTTL == 0 {
		cfg.PermissionTTL = 10 * time.Second
	}
	if cfg.RecoveryWindow <= 0 {
		cfg.RecoveryWindow = 2 * time.Minute
	}
	if cfg.LogSize <= 0 {
		cfg.LogSize = 100_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, client: &http.Client{},
		origins: origin.Policy{Allowed: cfg.AllowedOrigins, SameHostname: true},
		perms:   newPermCache(cfg.PermissionTTL), metrics: newMetrics(),
		elog:  newEventLog(cfg.LogSize, 2*cfg.RecoveryWindow),
		rooms: map[string]map[*conn]struct{}{}, conns: map[*conn]struct{}{}, sessions: map[string]*session{},
		stop: make(chan struct{})}
	off := func(n int) int {
		if n == 0 {
			return -1
		}
		return n
	}
	rate := cfg.HandshakeRate
	if rate == 0 {
		rate = -1
	}
	s.sio = socketio.NewServer(socketio.Options{
		MaxConnectionsPerAddr: off(cfg.MaxConnectionsPerAddr),
		HandshakeRate:         rate,
		HandshakeBurst:        off(cfg.HandshakeBurst),
		SendQueueBytes:        cfg.SendQueueBytes,
		CheckRequest:          s.checkRequest,
		Connect:               s.connect,
		OnConnect:             s.onConnect,
		OnEvent:               s.onEvent,
		OnDisconnect:          s.onDisconnect,
	})
	if cfg.RedisStream != "" {
		sc, err := newStreamCopy(cfg.Redis, cfg.RedisStream, cfg.LogSize, cfg.RecoveryWindow, s.log, s.metrics.streamDrops.Inc)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		kept, err := sc.load(ctx)
		cancel()
		if err != nil {
			sc.close()
			return nil, err
		}
		for _, e := range kept {
			s.elog.restore(e)
		}
		s.stream = sc
	}
	sub, err := subscribe(cfg.Redis, s.publish, s.log)
	if err != nil {
		if s.stream != nil {
			s.stream.close()
		}
		return nil, err
	}
	s.redis = sub
	s.done.Add(1)
	go s.maintain()
	return s, nil
}

// Close disconnects every socket and stops listening to Redis.
func (s *Server) Close() {
	close(s.stop)
	s.done.Wait()
	s.redis.close()
	s.sio.Close()
	if s.stream != nil {
		s.stream.close() // after the sockets: their sessions are stored as they go
	}
}

// maintain forgets, every few seconds, sessions past the recovery window and events past the
// log's age.
func (s *Server) maintain() {
	defer s.done.Done()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	stored := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			s.expire()
			if s.stream != nil && time.Since(stored) > s.cfg.RecoveryWindow/2 {
				s.storeConnected() // their stored copies expire a window after the last refresh
				stored = time.Now()
			}
		}
	}
}

// checkRequest refuses a browser whose page is not on the socket's hostname (nor an allowed
// Origin), as Frappe's server does, before any session exists.
func (s *Server) checkRequest(r *http.Request) error {
	if err := s.origins.Check(r); err != nil {
		return errors.New("Invalid origin") //lint:ignore ST1005 Frappe's Node server's text
	}
	return nil
}

// session is what a socket's recovery restores: who, where, and its rooms.
type session struct {
	pid    string
	site   string
	user   identity
	cred   credential
	rooms  map[string]bool
	open   map[string]bool // open_doc: rooms, for presence
	conn   *conn           // nil while disconnected
	leftAt time.Time
}

// permKey names the session's permission answers: a site's answers are its own, whatever the
// credential.
func (sess *session) permKey() string { return permKey(sess.site, sess.cred) }

func permKey(site string, cred credential) string { return site + "\x00" + cred.key() }

// conn is one connected socket.
type conn struct {
	sock *socketio.Socket
	sess *session
	gone bool // guarded by s.mu
}

// connectData travels from Connect to OnConnect and OnDisconnect.
type connectData struct {
	sess    *session
	after   int64 // recovering: replay what came after this offset
	recover bool
	conn    *conn
	dropped bool // disconnected before OnConnect
}

// connect authorises a namespace CONNECT: the namespace must be the socket's site, and the site
// must say who the credential is. A reconnect with its pid and offset within the recovery window,
// as the same user with the same credential, gets its session back.
func (s *Server) connect(r *socketio.ConnectRequest) (*socketio.ConnectReply, error) {
	site := s.siteOf(r.HTTP)
	if r.Namespace != "/"+site || !s.served(site) {
		return nil, socketio.ErrInvalidNamespace
	}
	cred, err := credentialOf(r.HTTP)
	if err != nil {
		s.metrics.connects.WithLabelValues("refused").Inc()
		return nil, err
	}
	id, err := s.userInfo(r.HTTP.Context(), site, cred)
	if err != nil {
		var down errSite
		if errors.As(err, &down) {
			s.metrics.connects.WithLabelValues("site_unavailable").Inc()
			s.log.Warn("frappe-realtime: authenticating a socket", "site", site, "err", err)
			return nil, errors.New("Unauthorized: the site did not answer") //lint:ignore ST1005 after Frappe's text
		}
		s.metrics.connects.WithLabelValues("refused").Inc()
		return nil, err
	}
	var payload struct {
		PID    string `json:"pid"`
		Offset string `json:"offset"`
	}
	_ = json.Unmarshal(r.Auth, &payload) // Frappe's client sends no auth of its own; anything else is not ours
	if sess, after := s.recoverable(r.HTTP.Context(), payload.PID, payload.Offset, site, cred, id); sess != nil {
		s.metrics.connects.WithLabelValues("recovered").Inc()
		return &socketio.ConnectReply{Data: &connectData{sess: sess, after: after, recover: true}, PID: sess.pid}, nil
	}
	s.metrics.connects.WithLabelValues("fresh").Inc()
	s.perms.hold(permKey(site, cred)) // one hold per session, released when it is forgotten
	sess := &session{pid: newID(), site: site, user: id, cred: cred, rooms: map[string]bool{}, open: map[string]bool{}}
	sess.rooms["website"] = true
	if id.User != "Guest" {
		sess.rooms["user:"+id.User] = true
	}
	if id.UserType == "System User" && id.User != "Guest" {
		sess.rooms["all"] = true
	}
	return &socketio.ConnectReply{Data: &connectData{sess: sess}, PID: sess.pid}, nil
}

// recoverable returns the session a reconnect may take back, and the offset to replay from; nil
// when it must start fresh (unknown, expired, another site, user or credential, or events it
// missed no longer kept).
func (s *Server) recoverable(ctx context.Context, pid, offset, site string, cred credential, id identity) (*session, int64) {
	if pid == "" || offset == "" {
		return nil, 0
	}
	after, err := strconv.ParseInt(offset, 10, 64)
	if err != nil || after < 0 {
		return nil, 0
	}
	if s.stream != nil {
		s.restore(ctx, pid, site, cred, id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[pid]
	if sess == nil || sess.site != site || sess.cred != cred || sess.user.User != id.User ||
		(sess.conn == nil && time.Since(sess.leftAt) > s.cfg.RecoveryWindow) {
		return nil, 0
	}
	if _, ok := s.elog.since(after, func(*entry) bool { return false }); !ok {
		return nil, 0
	}
	return sess, after
}

// onConnect puts the socket in its session's rooms. A recovering one first gets, in order, every
// kept event it missed for those rooms; the lock held meanwhile keeps live events from passing
// them, so none is lost or sent twice.
func (s *Server) onConnect(sock *socketio.Socket) {
	data := sock.Data().(*connectData)
	c := &conn{sock: sock, sess: data.sess}
	s.mu.Lock()
	if data.dropped {
		s.mu.Unlock()
		return
	}
	data.conn = c
	sess := data.sess
	old := sess.conn
	sess.conn = c
	s.sessions[sess.pid] = sess
	s.storeLocked(sess)
	if old != nil {
		s.leaveAllLocked(old) // the same client came back before its old transport was noticed gone
		old.gone = true
	}
	s.conns[c] = struct{}{}
	for room := range sess.rooms {
		s.joinLocked(c, room)
	}
	if data.recover {
		missed, _ := s.elog.since(data.after, func(e *entry) bool { return s.forSession(e, sess) })
		var b socketio.Batch
		for i := range missed {
			if p, err := packetOf(&missed[i]); err == nil {
				_ = sock.SendBatched(p, &b)
			}
		}
		b.Flush()
		s.metrics.recovered.Add(float64(len(missed)))
	}
	s.metrics.connections.Inc()
	open := keys(sess.open)
	s.mu.Unlock()
	if old != nil {
		old.sock.Disconnect()
	}
	for _, room := range open {
		s.sendViewers(sess.site, room)
	}
}

// forSession reports whether a logged event is one sess would have received.
func (s *Server) forSession(e *entry, sess *session) bool {
	return (e.site == "" || e.site == sess.site) && (e.room == "" || sess.rooms[e.room])
}

func (s *Server) onDisconnect(sock *socketio.Socket, reason string) {
	data, ok := sock.Data().(*connectData)
	if !ok {
		return
	}
	s.mu.Lock()
	c := data.conn
	if c == nil {
		data.dropped = true
		s.mu.Unlock()
		if !data.recover {
			s.perms.release(data.sess.permKey()) // a fresh session that never started
		}
		return
	}
	if c.gone {
		s.mu.Unlock()
		return // taken over by a newer socket of its session
	}
	c.gone = true
	delete(s.conns, c)
	s.leaveAllLocked(c)
	sess := c.sess
	if sess.conn == c {
		sess.conn = nil
		sess.leftAt = time.Now()
		s.storeLocked(sess) // from now, it expires with the recovery window
	}
	open := keys(sess.open)
	s.mu.Unlock()
	// The permission answers stay while the session may still be recovered; forget releases them.
	if reason == "client namespace disconnect" {
		s.forget(sess) // closed on purpose: it will not come back
	}
	for _, room := range open {
		s.sendViewers(sess.site, room)
	}
	s.metrics.connections.Dec() // last: once it shows, the socket is entirely gone
}

// forget drops a disconnected session and, with it, its hold on the permission answers.
func (s *Server) forget(sess *session) {
	s.mu.Lock()
	if s.sessions[sess.pid] != sess || sess.conn != nil {
		s.mu.Unlock()
		return
	}
	delete(s.sessions, sess.pid)
	s.mu.Unlock()
	if s.stream != nil {
		s.stream.putSession(sess.pid, nil, 0)
	}
	s.perms.release(sess.permKey())
}

// expire forgets sessions past the recovery window; run every few seconds.
func (s *Server) expire() {
	s.mu.Lock()
	var old []*session
	for _, sess := range s.sessions {
		if sess.conn == nil && time.Since(sess.leftAt) > s.cfg.RecoveryWindow {
			old = append(old, sess)
		}
	}
	s.elog.prune()
	s.mu.Unlock()
	for _, sess := range old {
		s.forget(sess)
	}
}

func roomKey(site, room string) string { return site + "\x00" + room }

func (s *Server) joinLocked(c *conn, room string) {
	k := roomKey(c.sess.site, room)
	set := s.rooms[k]
	if set == nil {
		set = map[*conn]struct{}{}
		s.rooms[k] = set
	}
	set[c] = struct{}{}
}

func (s *Server) leaveLocked(c *conn, room string) {
	k := roomKey(c.sess.site, room)
	if set := s.rooms[k]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(s.rooms, k)
		}
	}
}

func (s *Server) leaveAllLocked(c *conn) {
	for room := range c.sess.rooms {
		s.leaveLocked(c, room)
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
