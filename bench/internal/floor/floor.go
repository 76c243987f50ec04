//go:build linux

// Package floor is the cheapest fan-out server we know how to write on Linux, to measure the
// physical floor of a fan-out on a machine: what remains is the system calls no server can avoid,
// one write(2) per subscriber per round.
//
// Subscribers are WebSocket clients (RFC 6455) of GET /subscribe on the server's HTTP handler,
// which checks the opening handshake (400 otherwise) and hands the connection over (hijacked) to
// the writer goroutine. When the writer registers one, it writes the 101 answer and an empty text
// frame (subscribed); after that every message is one unmasked final text frame holding its
// payload. The server never reads what subscribers send (no pings, no closing handshake): a gone
// subscriber shows at a write. Everybody is in the one room. A publish (POST /publish, the payload
// as the body) encodes its frame once, appends it to a pending buffer and wakes the writer; the
// writer takes everything pending (all the publishes that arrived while its previous round ran)
// and writes that chunk to every subscriber with one write(2) each. What a socket does not take
// (a partial write, EAGAIN) is kept in that subscriber's backlog, in order; until the socket has
// room again, new chunks are appended to the backlog without a system call, and Go's netpoller
// tells when it has (so the backlog goes out even if nothing more is published). A subscriber
// whose write fails otherwise (EPIPE, ECONNRESET) is dropped. Nothing is ever dropped or
// reordered for a live subscriber.
//
// The writer parks on a channel between rounds rather than blocking in a system call of its own
// (epoll_wait on a wake pipe): a goroutine blocked in a system call keeps the process's one P
// (the server is pinned to one CPU, so GOMAXPROCS is 1) until sysmon takes it back, which would
// delay the HTTP handler that must read the next publish.
package floor

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/livedoc/livedoc/bench/internal/wsclient"
)

// SubscribePath is where subscribers open their WebSocket.
const SubscribePath = "/subscribe"

// MaxPayload bounds one publish's body.
const MaxPayload = 1 << 20

// Server is one floor server: its writer and its HTTP handler.
type Server struct {
	wake chan struct{} // capacity 1: one pending wake-up covers any number of publishes

	mu      sync.Mutex
	pending []byte // the publishes the writer has not taken yet, each a whole text frame
	joined  []*sub // handshaken subscribers the writer has not registered yet
	ready   []*sub // stalled subscribers whose socket has room again
	closing bool

	subscribers atomic.Int64 // registered with the writer (for /health)
	stalls      atomic.Int64 // writes the kernel did not take in full (a backlog was kept)
	done        chan struct{}
}

// sub is one subscriber. Only the writer goroutine touches it once registered, but for rc, which
// a watcher goroutine uses while the writer leaves the socket alone (waiting).
type sub struct {
	// conn (hijacked from the HTTP server) owns the socket: we take its fd with
	// SyscallConn().Control rather than File() because File() dups the descriptor and
	// (*os.File).Fd puts it back in blocking mode, where a full socket would stall the writer for
	// everybody. The net.Conn keeps the one descriptor non-blocking and registered with Go's
	// netpoller, open while we hold it (no finalizer closes it behind our back), and closes it
	// when dropped. We never Read or Write through it: only a stalled subscriber's watcher waits
	// on it, through rc, for the socket to have room.
	conn    net.Conn
	rc      syscall.RawConn
	fd      int
	backlog []byte // bytes the kernel has not taken yet, in order
	waiting bool   // the socket was full: a watcher waits for room; append to backlog, no write
	dead    bool
}

// New starts a server's writer; its subscribers and publishes come through Handler.
func New() *Server {
	s := &Server{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go s.write()
	return s
}

// Subscribers is how many subscribers the writer knows (registered, not dropped).
func (s *Server) Subscribers() int64 { return s.subscribers.Load() }

// Stalls counts the writes a socket did not take in full, so that a backlog was kept.
func (s *Server) Stalls() int64 { return s.stalls.Load() }

// Close drops every subscriber, refuses new ones and publishes, and waits for the writer to end.
// The HTTP server serving Handler is the caller's.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.signal()
	<-s.done
	return nil
}

// signal wakes the writer unless a wake-up is already pending.
func (s *Server) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// write is the writer goroutine, the one place subscribers are written to: a round per wake-up.
func (s *Server) write() {
	defer close(s.done)
	var subs, batch []*sub
	var chunk []byte
	for range s.wake {
		s.mu.Lock()
		// Swap buffers: the previous round's chunk is free again, the handler fills it next.
		chunk, s.pending = s.pending, chunk[:0]
		joined, ready := s.joined, s.ready
		s.joined, s.ready = nil, nil
		closing := s.closing
		s.mu.Unlock()

		if closing {
			for _, sb := range append(subs, joined...) {
				sb.conn.Close()
			}
			s.subscribers.Store(0)
			return
		}
		// With something published, every subscriber gets it; otherwise only those that have a
		// backlog to send: just registered (the 101 and the empty frame), or their socket has
		// room again.
		batch = batch[:0]
		for _, sb := range ready {
			if !sb.dead {
				sb.waiting = false
				batch = append(batch, sb)
			}
		}
		if len(joined) > 0 {
			subs = append(subs, joined...)
			batch = append(batch, joined...)
			s.subscribers.Store(int64(len(subs)))
		}
		to := batch
		if len(chunk) > 0 {
			to = subs
		}
		dropped := false
		for _, sb := range to {
			if !s.send(sb, chunk) {
				sb.dead = true
				dropped = true
			}
		}
		if dropped {
			live := subs[:0]
			for _, sb := range subs {
				if sb.dead {
					sb.conn.Close()
				} else {
					live = append(live, sb)
				}
			}
			clear(subs[len(live):]) // let the dropped ones be collected
			subs = live
			s.subscribers.Store(int64(len(subs)))
		}
	}
}

// send gives sb its backlog, then chunk, with at most one write(2), and keeps what the socket
// does not take; false means sb must be dropped.
func (s *Server) send(sb *sub, chunk []byte) bool {
	if sb.waiting { // full a moment ago: its watcher will say when a write is worth a system call
		sb.backlog = append(sb.backlog, chunk...)
		return true
	}
	b := chunk
	if len(sb.backlog) > 0 {
		sb.backlog = append(sb.backlog, chunk...)
		b = sb.backlog
	}
	if len(b) == 0 {
		return true
	}
	n, errno := write(sb.fd, b)
	switch errno {
	case 0:
	case syscall.EAGAIN, syscall.EINTR: // (the watcher finds at once that there is room)
		n = 0
	default: // EPIPE, ECONNRESET: the subscriber is gone (anything else: we cannot write to it)
		return false
	}
	if n == len(b) {
		sb.backlog = sb.backlog[:0]
		if cap(sb.backlog) > 1<<20 {
			sb.backlog = nil // a stall's memory goes back once it has drained
		}
		return true
	}
	// A partial write or EAGAIN: the socket buffer is full, so another write now would only
	// return EAGAIN. Keep the rest (copy, or move down within the backlog: append copies
	// overlapping bytes correctly) and let a watcher wait for room.
	sb.backlog = append(sb.backlog[:0], b[n:]...)
	s.stalls.Add(1)
	sb.waiting = true
	go s.watch(sb)
	return true
}

// watch waits until sb's socket has room, parked in Go's netpoller (no thread held), and hands sb
// back to the writer. RawConn.Write first clears the socket's write readiness, then calls the
// function, and parks until the next EPOLLOUT edge each time it returns false: room that appears
// after the check wakes it, room there before it is seen by the check. It returns an error when
// the writer closed the connection (dropped, or the server is closing): nothing to hand back.
func (s *Server) watch(sb *sub) {
	if sb.rc.Write(func(fd uintptr) bool { return writable(int(fd)) }) != nil {
		return
	}
	s.mu.Lock()
	s.ready = append(s.ready, sb)
	s.mu.Unlock()
	s.signal()
}

// writable reports whether the socket has room (POLLOUT), or an error the next write will report,
// with a ppoll(2) that does not wait.
func writable(fd int) bool {
	pfd := struct {
		fd             int32
		events, revent int16
	}{fd: int32(fd), events: 0x4} // POLLOUT
	var ts syscall.Timespec
	n, _, e := syscall.RawSyscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	return e != 0 || n > 0
}

// write is one write(2) on a non-blocking socket. RawSyscall, not syscall.Write: it never blocks,
// so the runtime need not be told (entersyscall/exitsyscall cost ~0.1 µs on each of thousands of
// writes a round). The loop calling it stays preemptible between writes. A write to a socket the
// peer has reset raises SIGPIPE, which the Go runtime ignores for descriptors other than 1 and 2:
// the write returns EPIPE.
func write(fd int, b []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

// Health is the answer to GET /health: where subscribers open their WebSocket (a path on the
// same server), so that a client needs only the HTTP address.
type Health struct {
	Subscribe   string `json:"subscribe"`
	Subscribers int64  `json:"subscribers"`
}

// Handler serves GET /subscribe (a subscriber's WebSocket), POST /publish (the body is one
// message, UTF-8 text: queued for every subscriber, 200 once queued) and GET /health (200, Health
// as JSON).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(SubscribePath, s.subscribe) // any method: all but a WebSocket handshake get 400
	mux.HandleFunc("POST /publish", s.publish)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(Health{Subscribe: SubscribePath, Subscribers: s.subscribers.Load()})
	})
	return mux
}

// subscribe checks a WebSocket opening handshake, takes the connection from the HTTP server and
// hands it to the writer, with the 101 answer and the empty text frame that says it is registered
// as its backlog: the writer sends both with its first write(2) once the subscriber is in its
// list, so that no publish made after the client has read them can miss it.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request) {
	key, problem := handshakeKey(r)
	if problem != "" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "floor: want a WebSocket opening handshake: "+problem, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		http.Error(w, "closing", http.StatusServiceUnavailable)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "floor: the connection cannot be taken over", http.StatusInternalServerError)
		return
	}
	// What the client may have sent after its request (it should wait for the 101) stays unread
	// in the bufio.Reader, as everything it sends later stays unread in the socket.
	c, _, err := hj.Hijack()
	if err != nil {
		log.Printf("floor: hijack: %v", err)
		return
	}
	c.SetDeadline(time.Time{}) // a server's timeouts must not reach the watcher's RawConn.Write
	sc, ok := c.(syscall.Conn)
	if !ok {
		c.Close()
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		c.Close()
		return
	}
	hello := make([]byte, 0, 160)
	hello = append(hello, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	hello = append(hello, wsclient.AcceptKey(key)...)
	hello = append(hello, "\r\n\r\n"...)
	hello = appendFrame(hello, nil)
	sb := &sub{conn: c, rc: rc, backlog: hello}
	rc.Control(func(fd uintptr) { sb.fd = int(fd) })
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.joined = append(s.joined, sb)
	s.mu.Unlock()
	s.signal()
}

// handshakeKey checks r is a WebSocket opening handshake (RFC 6455 4.2.1) and returns its
// Sec-WebSocket-Key, or what is wrong with it.
func handshakeKey(r *http.Request) (key, problem string) {
	switch {
	case r.Method != http.MethodGet:
		return "", "the method must be GET"
	case !r.ProtoAtLeast(1, 1):
		return "", "HTTP/1.1 or later"
	case !wsclient.HeaderHas(r.Header, "Upgrade", "websocket"):
		return "", "no Upgrade: websocket"
	case !wsclient.HeaderHas(r.Header, "Connection", "upgrade"):
		return "", "no Connection: Upgrade"
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return "", "Sec-WebSocket-Version must be 13"
	}
	key = r.Header.Get("Sec-WebSocket-Key")
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 16 {
		return "", "Sec-WebSocket-Key must be 16 bytes in base64"
	}
	return key, ""
}

// appendFrame appends one unmasked final text frame holding p: FIN|text, then the length in 7,
// 16 or 64 bits.
func appendFrame(b, p []byte) []byte {
	switch n := len(p); {
	case n <= 125:
		b = append(b, 0x81, byte(n))
	case n <= 0xffff:
		b = append(b, 0x81, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x81, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, p...)
}

func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPayload))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) == 0 || !utf8.Valid(body) {
		http.Error(w, "the body must be one message, UTF-8 text, not empty", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		http.Error(w, "closing", http.StatusServiceUnavailable)
		return
	}
	s.pending = appendFrame(s.pending, body) // the frame is made once, whatever the subscribers
	s.mu.Unlock()
	s.signal()
	w.WriteHeader(http.StatusOK)
}
