//go:build unix

package socketio

import (
	"net"
	"syscall"
)

// rawConn returns the descriptor access for writes that never block, or nil.
func rawConn(conn net.Conn) syscall.RawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// writeNow writes as much of b as the socket takes without waiting and returns how much that
// was. Go's own Write would park the goroutine on a full socket; the fan-out cannot wait for one
// slow client, and a goroutine per write would cost more than the write. Callers hold the
// session's lock, which guards the w* fields: passing state through them instead of a closure
// keeps a write free of allocations.
func (c *wsConn) writeNow(b []byte) (int, error) {
	if c.writeFn == nil {
		c.writeFn = c.write
	}
	c.wbuf, c.wn, c.werr = b, 0, nil
	err := c.raw.Write(c.writeFn)
	n, werr := c.wn, c.werr
	c.wbuf, c.werr = nil, nil
	if werr == nil {
		werr = err
	}
	return n, werr
}

// write is writeNow's callback, on the descriptor.
func (c *wsConn) write(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		m, err := syscall.Write(int(fd), c.wbuf[c.wn:])
		if m > 0 {
			c.wn += m
		}
		if err == syscall.EINTR {
			continue
		}
		if err != nil && err != syscall.EAGAIN {
			c.werr = err
		}
		if err != nil || m <= 0 {
			break // EAGAIN: the socket is full
		}
	}
	return true // never wait for the socket here
}

// buffered reports whether the client has sent more than has been read, without waiting.
func (c *wsConn) buffered() bool {
	if len(c.unread) > 0 {
		return true
	}
	if c.raw == nil {
		return false
	}
	var n int
	var b [1]byte
	c.raw.Read(func(fd uintptr) bool {
		n, _, _ = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	})
	return n > 0
}
