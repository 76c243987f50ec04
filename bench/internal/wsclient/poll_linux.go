package wsclient

import (
	"errors"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// pollState is what a poller keeps of a connection Go handed to it.
type pollState struct {
	state    atomic.Int32 // pollNone, pollActive (a poller reads it), pollEnded
	deadline atomic.Int64 // read deadline, Unix nanoseconds; 0: none
	raw      syscall.RawConn
	fd       int32
	h        func(op byte, msg []byte) bool
	done     func(error)
}

const (
	pollNone int32 = iota
	pollActive
	pollEnded
)

func (ps *pollState) setDeadline(t time.Time) {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	ps.deadline.Store(ns)
}

// shutdown ends a polled connection's TCP connection without closing its descriptor: the poller
// reads the end and hands it to done. false: the connection is not being polled.
func (ps *pollState) shutdown(c *Conn) bool {
	if ps.state.Load() != pollActive {
		return false
	}
	ps.raw.Control(func(fd uintptr) { syscall.Shutdown(int(fd), syscall.SHUT_RDWR) })
	return true
}

// poller reads many connections on one goroutine. The epoll descriptor is itself waited for
// through Go's netpoller (os.NewFile of a non-blocking descriptor), so an idle poller parks its
// goroutine like any blocked read instead of holding a thread in epoll_wait.
type poller struct {
	ep     *os.File
	raw    syscall.RawConn
	epfd   int
	mu     sync.Mutex
	conns  map[int32]*Conn
	broken bool // fail ran
}

// pollEvery is how often a poller looks for connections past their read deadline.
const pollEvery = 250 * time.Millisecond

var pollers struct {
	once sync.Once
	ps   []*poller
	next atomic.Uint32
}

// pollerFor returns the poller a new connection joins (one per GOMAXPROCS, taken in turn), nil
// if none could be set up.
func pollerFor() *poller {
	pollers.once.Do(func() {
		for range runtime.GOMAXPROCS(0) {
			p, err := newPoller()
			if err != nil {
				return
			}
			pollers.ps = append(pollers.ps, p)
		}
	})
	if len(pollers.ps) == 0 {
		return nil
	}
	return pollers.ps[int(pollers.next.Add(1))%len(pollers.ps)]
}

func newPoller() (*poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	ep := os.NewFile(uintptr(fd), "epoll")
	raw, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		return nil, err
	}
	// A descriptor the netpoller did not take has no deadlines: the loop would spin.
	if err := ep.SetReadDeadline(time.Now().Add(pollEvery)); err != nil {
		ep.Close()
		return nil, err
	}
	p := &poller{ep: ep, raw: raw, epfd: fd, conns: map[int32]*Conn{}}
	go p.loop()
	return p, nil
}

// add makes p read c; false if c's descriptor cannot be polled (the caller reads it itself).
func (p *poller) add(c *Conn, h func(op byte, msg []byte) bool, done func(error)) bool {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	fd := int32(-1)
	raw.Control(func(f uintptr) { fd = int32(f) })
	if fd < 0 {
		return false
	}
	ps := &c.poll
	ps.raw, ps.fd, ps.h, ps.done = raw, fd, h, done
	p.mu.Lock()
	if p.broken {
		p.mu.Unlock()
		return false
	}
	ps.state.Store(pollActive)
	p.conns[fd] = c
	p.mu.Unlock()
	// Level-triggered: a connection with more than a buffer's worth waiting is simply reported
	// again, so each wake-up reads each ready connection once.
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: fd}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev); err != nil {
		p.mu.Lock()
		delete(p.conns, fd)
		p.mu.Unlock()
		ps.state.Store(pollNone)
		return false
	}
	return true
}

func (p *poller) loop() {
	events := make([]syscall.EpollEvent, 128)
	lastPark := time.Now()
	for {
		var n int
		var werr error
		err := p.raw.Read(func(fd uintptr) bool {
			n, werr = syscall.EpollWait(int(fd), events, 0)
			return n > 0 || (werr != nil && werr != syscall.EINTR)
		})
		if errors.Is(err, os.ErrDeadlineExceeded) { // time to look for expired connections
			p.expire()
			p.ep.SetReadDeadline(time.Now().Add(pollEvery))
			continue
		}
		if err != nil || (werr != nil && werr != syscall.EINTR) {
			if err == nil {
				err = os.NewSyscallError("epoll_wait", werr)
			}
			p.fail(err)
			return
		}
		for _, ev := range events[:max(n, 0)] {
			p.mu.Lock()
			c := p.conns[ev.Fd]
			p.mu.Unlock()
			if c != nil {
				p.serve(c)
			}
		}
		// The generator's other goroutines share the CPU: Gosched lets the pacers in (their
		// timers fire), but the publisher and the writers wait on Go's netpoller for their HTTP
		// answers, and the scheduler runs every runnable goroutine before it polls the network:
		// they would wait for sysmon's poll (10 ms). So at least once a millisecond a sleep parks
		// this goroutine, and a P with nothing to run polls the network.
		if now := time.Now(); now.Sub(lastPark) >= time.Millisecond {
			time.Sleep(time.Microsecond)
			lastPark = now
		} else {
			runtime.Gosched()
		}
	}
}

// serve reads c once and handles the complete messages. Between reads the buffer has room for
// the frame in progress (makeRoom), as in Next.
func (p *poller) serve(c *Conn) {
	var n int
	var rerr error
	err := c.poll.raw.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), c.buf[c.w:])
		return true
	})
	switch {
	case err != nil:
		p.end(c, err)
		return
	case rerr == syscall.EAGAIN || rerr == syscall.EINTR:
		return
	case rerr != nil:
		p.end(c, os.NewSyscallError("read", rerr))
		return
	case n == 0:
		p.end(c, eof(io.EOF, c.w > c.r || c.fragOp != 0))
		return
	}
	c.w += n
	for {
		op, msg, need, err := c.advance()
		if err != nil {
			p.end(c, err)
			return
		}
		if need != 0 {
			c.makeRoom(need)
			return
		}
		if !c.poll.h(op, msg) {
			p.end(c, nil)
			return
		}
	}
}

// end stops polling c and tells its owner, who closes it.
func (p *poller) end(c *Conn, err error) {
	ps := &c.poll
	syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(ps.fd), nil)
	p.mu.Lock()
	delete(p.conns, ps.fd)
	p.mu.Unlock()
	ps.state.Store(pollEnded)
	ps.done(err)
}

// fail ends every connection (and takes no more): the epoll descriptor stopped working.
func (p *poller) fail(err error) {
	p.mu.Lock()
	p.broken = true
	all := make([]*Conn, 0, len(p.conns))
	for _, c := range p.conns {
		all = append(all, c)
	}
	p.mu.Unlock()
	for _, c := range all {
		p.end(c, err)
	}
}

// expire ends the connections whose read deadline passed.
func (p *poller) expire() {
	now := time.Now().UnixNano()
	var late []*Conn
	p.mu.Lock()
	for _, c := range p.conns {
		if d := c.poll.deadline.Load(); d != 0 && d <= now {
			late = append(late, c)
		}
	}
	p.mu.Unlock()
	for _, c := range late {
		p.end(c, os.ErrDeadlineExceeded)
	}
}
