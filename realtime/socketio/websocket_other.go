//go:build !unix

package socketio

import (
	"errors"
	"net"
	"syscall"
)

// rawConn: writes that never block are done on unix only; elsewhere the writer goroutine writes.
func rawConn(net.Conn) syscall.RawConn { return nil }

func (c *wsConn) writeNow([]byte) (int, error) {
	return 0, errors.New("socketio: no direct writes on this platform")
}

func (c *wsConn) buffered() bool { return len(c.unread) > 0 }
