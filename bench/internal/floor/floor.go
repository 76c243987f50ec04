//go:build linux

// Package floor is the cheapest fan-out server we know how to write on Linux, to measure the
// physical floor of a fan-out on a machine: what remains is the system calls no server can avoid,
// one write(2) per subscriber per round.
//
// Subscribers connect over plain TCP and send nothing. When the writer has registered one, it
// writes an empty line ("\n": subscribed); after that every message is its payload followed by
// "\n". Everybody is in the one room. A publish (POST /publish, the payload as the body) appends
// payload+"\n" to a pending buffer and wakes the writer; the writer takes everything pending
// (all the publishes that arrived while its previous round ran), and writes that chunk to every
// subscriber with one write(2) each. What a socket does not take (a partial write, EAGAIN) is kept
// in that subscriber's backlog, in order, and the socket is watched for room (EPOLLOUT) so the
// backlog goes out even if nothing more is published; until then, new chunks are appended to the
// backlog without a system call. A subscriber whose write fails otherwise (EPIPE, ECONNRESET) is
// dropped. Nothing is ever dropped or reordered for a live subscriber.
package floor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
	ln    net.Listener
	epfd  int // the writer sleeps here: on the wake pipe and on the sockets it waits to drain
	wakeR int // the wake pipe (non-blocking): one byte means "look at pending"
	wakeW int

	mu      sync.Mutex
	pending []byte // the publishes the writer has not taken yet, each followed by '\n'
	joined  []*sub // accepted subscribers the writer has not registered yet
	woken   bool   // a wake byte is in the pipe: no need for another
	closing bool

	subscribers atomic.Int64 // registered with the writer (for /health)
	stalls      atomic.Int64 // writes the kernel did not take in full (a backlog was kept)
	done        chan struct{}
}

// sub is one subscriber. Only the writer goroutine touches it once registered.
type sub struct {
	// conn owns the socket: we take its fd with SyscallConn().Control rather than File() because
	// File() dups the descriptor and (*os.File).Fd puts it back in blocking mode, where a full
	// socket would stall the writer for everybody. The net.Conn keeps the one descriptor
	// non-blocking, open while we hold it (no finalizer closes it behind our back) and closes it
	// when dropped. We never Read or Write through it, so Go's poller has nothing to do for it.
	conn    net.Conn
	fd      int
	backlog []byte // bytes the kernel has not taken yet, in order
	waiting bool   // armed for EPOLLOUT: the socket is full, append to backlog without writing
	armed   bool   // the fd is in epfd (ADD once, then MOD to re-arm the one-shot)
	dead    bool
}

// New starts a server on ln (subscribers): its accept loop and its writer.
func New(ln net.Listener) (*Server, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("pipe2: %w", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p[0])}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p[0], &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(p[0])
		syscall.Close(p[1])
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	s := &Server{ln: ln, epfd: epfd, wakeR: p[0], wakeW: p[1], done: make(chan struct{})}
	go s.accept()
	go s.write()
	return s, nil
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
	if !s.closing {
		s.closing = true
		s.wakeLocked()
	}
	s.mu.Unlock()
	<-s.done
	return err
}

// wakeLocked wakes the writer, once per round however many publishes arrive: the writer clears
// woken when it takes pending. The byte is written under mu so that it never goes to a pipe the
// writer has closed (it closes it only after seeing closing, under mu).
func (s *Server) wakeLocked() {
	if s.woken {
		return
	}
	s.woken = true
	b := [1]byte{1}
	syscall.Write(s.wakeW, b[:]) // cannot be full: at most one byte is in it
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
		sb := &sub{conn: c, backlog: []byte{'\n'}}
		rc.Control(func(fd uintptr) { sb.fd = int(fd) })
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.joined = append(s.joined, sb)
		s.wakeLocked()
		s.mu.Unlock()
	}
}

// write is the writer goroutine, the one place subscribers are written to: a round per wake-up.
func (s *Server) write() {
	defer close(s.done)
	var subs []*sub
	byFD := map[int32]*sub{} // for the EPOLLOUT events
	events := make([]syscall.EpollEvent, 256)
	var chunk []byte
	var ready []*sub
	for {
		n, err := syscall.EpollWait(s.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			log.Printf("floor: epoll_wait: %v", err) // cannot happen with a valid epfd
			n = 0
		}
		ready = ready[:0]
		for _, ev := range events[:n] {
			if ev.Fd == int32(s.wakeR) {
				var b [64]byte
				syscall.Read(s.wakeR, b[:])
				continue
			}
			// A one-shot EPOLLOUT (or an error: the write below will tell): the socket has room.
			if sb := byFD[ev.Fd]; sb != nil && sb.waiting {
				sb.waiting = false
				ready = append(ready, sb)
			}
		}
		s.mu.Lock()
		// Swap buffers: the previous round's chunk is free again, the handler fills it next.
		chunk, s.pending = s.pending, chunk[:0]
		joined := s.joined
		s.joined = nil
		s.woken = false
		closing := s.closing
		s.mu.Unlock()

		if closing {
			for _, sb := range append(subs, joined...) {
				sb.conn.Close()
			}
			s.subscribers.Store(0)
			syscall.Close(s.wakeR)
			syscall.Close(s.wakeW)
			syscall.Close(s.epfd)
			return
		}
		for _, sb := range joined {
			subs = append(subs, sb)
			byFD[int32(sb.fd)] = sb
			ready = append(ready, sb) // its backlog holds the "\n" that says it is registered
		}
		if len(joined) > 0 {
			s.subscribers.Store(int64(len(subs)))
		}
		// With something published, every subscriber gets it; otherwise only those that have a
		// backlog to send (just registered, or their socket has room again).
		to := ready
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
				if !sb.dead {
					live = append(live, sb)
					continue
				}
				delete(byFD, int32(sb.fd))
				if sb.armed {
					syscall.EpollCtl(s.epfd, syscall.EPOLL_CTL_DEL, sb.fd, nil)
				}
				sb.conn.Close()
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
	if sb.waiting { // full a moment ago: EPOLLOUT will say when a write is worth a system call
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
	case syscall.EAGAIN, syscall.EINTR: // (a retry through EPOLLOUT, which fires at once if there is room)
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
	// overlapping bytes correctly) and sleep on EPOLLOUT for this socket, once (one-shot).
	sb.backlog = append(sb.backlog[:0], b[n:]...)
	s.stalls.Add(1)
	op := syscall.EPOLL_CTL_MOD
	if !sb.armed {
		op = syscall.EPOLL_CTL_ADD
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLOUT | syscall.EPOLLONESHOT, Fd: int32(sb.fd)}
	if err := syscall.EpollCtl(s.epfd, op, sb.fd, &ev); err != nil {
		return false
	}
	sb.armed = true
	sb.waiting = true
	return true
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
	s.wakeLocked()
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}
