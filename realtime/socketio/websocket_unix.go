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
// slow client, and a goroutine per write would cost more than the write.
func (c *wsConn) writeNow(b []byte) (int, error) {
	n := 0
	var werr error
	err := c.raw.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, err := syscall.Write(int(fd), b[n:])
			if m > 0 {
				n += m
			}
			if err == syscall.EINTR {
				continue
			}
			if err != nil && err != syscall.EAGAIN {
				werr = err
			}
			if err != nil || m <= 0 {
				break // EAGAIN: the socket is full
			}
		}
		return true // never wait for the socket here
	})
	if werr == nil {
		werr = err
	}
	return n, werr
}
