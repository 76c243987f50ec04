//go:build linux

// Package floor is the cheapest fan-out server we know how to write on Linux, to measure the
// physical floor of a fan-out on a machine: what remains is the system calls no server can avoid,
// one write(2) per subscriber per round.
//
// Subscribers connect over plain TCP and send nothing. When the writer has registered one, it
// writes an empty line ("\n": subscribed); after that every message is its payload followed by
// "\n". Everybody is in the one room. A publish (POST /publish, the payload as the body) appends
// payload+"\n" to a pending buffer and wakes the writer goroutine; the writer takes everything
// pending (all the publishes that arrived while its previous round ran) and writes that chunk to
// every subscriber with one write(2) each. What a socket does not take (a partial write, EAGAIN)
// is kept in that subscriber's backlog, in order; until the socket has room again, new chunks are
// appended to the backlog without a system call, and Go's netpoller tells when it has (so the
// backlog goes out even if nothing more is published). A subscriber whose write fails otherwise
// (EPIPE, ECONNRESET) is dropped. Nothing is ever dropped or reordered for a live subscriber.
//
// The writer parks on a channel between rounds rather than blocking in a system call of its own
// (epoll_wait on a wake pipe): a goroutine blocked in a system call keeps the process's one P
// (the server is pinned to one CPU, so GOMAXPROCS is 1) until sysmon takes it back, which would
// delay the HTTP handler that must read the next publish.
package floor

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// MaxPayload bounds one publish's body.
const MaxPayload = 1 << 20

// Server is one floor server: its subscriber listener, its writer and its HTTP handler.
type Server struct {
	ln   net.Listener
	wake chan struct{} // capacity 1: one pending wake-up covers any number of publishes

	mu      sync.Mutex
	pending []byte // the publishes the writer has not taken yet, each followed by '\n'
	joined  []*sub // accepted subscribers the writer has not registered yet
	ready   []*sub // stalled subscribers whose socket has room again
	closing bool

	subscribers atomic.Int64 // registered with the writer (for /health)
	stalls      atomic.Int64 // writes the kernel did not take in full (a backlog was kept)
	done        chan struct{}
}

// sub is one subscriber. Only the writer goroutine touches it once registered, but for rc, which
// a watcher goroutine uses while the writer leaves the socket alone (waiting).
type sub struct {
	// conn owns the socket: we take its fd with SyscallConn().Control rather than File() because
	// File() dups the descriptor and (*os.File).Fd puts it back in blocking mode, where a full
	// socket would stall the writer for everybody. The net.Conn keeps the one descriptor
	// non-blocking and registered with Go's netpoller, open while we hold it (no finalizer closes
	// it behind our back), and closes it when dropped. We never Read or Write through it: only a
	// stalled subscriber's watcher waits on it, through rc, for the socket to have room.
	conn    net.Conn
	rc      syscall.RawConn
	fd      int
	backlog []byte // bytes the kernel has not taken yet, in order
	waiting bool   // the socket was full: a watcher waits for room; append to backlog, no write
	dead    bool
}

// New starts a server on ln (subscribers): its accept loop and its writer.
func New(ln net.Listener) *Server {
	s := &Server{ln: ln, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go s.accept()
	go s.write()
	return s
}

// Addr is the subscribers' address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Subscribers is how many subscribers the writer knows (accepted, not dropped).
func (s *Server) Subscribers() int64 { return s.subscribers.Load() }

// Stalls counts the writes a socket did not take in full, so that a backlog was kept.
func (s *Server) Stalls() int64 { return s.stalls.Load() }

// Close stops accepting, drops every subscriber and waits for the writer to end.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.signal()
	<-s.done
	return err
}

// signal wakes the writer unless a wake-up is already pending.
func (s *Server) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// accept hands each new connection to the writer.
func (s *Server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and the like: net/http's Serve backs off the same way.
			log.Printf("floor: accept: %v", err)
			time.Sleep(5 * time.Millisecond)
			continue
		}
		sc, ok := c.(syscall.Conn)
		if !ok {
			c.Close()
			continue
		}
		rc, err := sc.SyscallConn()
		if err != nil {
			c.Close()
			continue
		}
		// The first thing a subscriber gets is the empty line that says it is registered: its
		// Dial waits for it, so that no publish made after Dial returns can miss it.
		sb := &sub{conn: c, rc: rc, backlog: []byte{'\n'}}
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
		// backlog to send: just registered (the "\n"), or their socket has room again.
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

// Health is the answer to GET /health: where subscribers connect, so that a client needs only the
// HTTP address.
type Health struct {
	Listen      string `json:"listen"`
	Subscribers int64  `json:"subscribers"`
}

// Handler serves POST /publish (the body is one message, without a newline: queued for every
// subscriber, 200 once queued) and GET /health (200, Health as JSON).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /publish", s.publish)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(Health{Listen: s.ln.Addr().String(), Subscribers: s.subscribers.Load()})
	})
	return mux
}

func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPayload))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) == 0 || bytes.IndexByte(body, '\n') >= 0 {
		http.Error(w, "the body must be one message, without a newline", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		http.Error(w, "closing", http.StatusServiceUnavailable)
		return
	}
	s.pending = append(append(s.pending, body...), '\n')
	s.mu.Unlock()
	s.signal()
	w.WriteHeader(http.StatusOK)
}
