package socketio

import (
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// With one P, a goroutine blocked on the network runs during a flush's yield — Gosched alone
// would leave it waiting for sysmon's poll.
func TestYieldLetsNetworkWaitersRun(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var got atomic.Bool
	started, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		close(started)
		var b [1]byte
		if n, _ := srv.Read(b[:]); n == 1 {
			got.Store(true)
		}
	}()
	<-started // the reader runs on and parks in Read before this goroutine resumes (one P)
	if _, err := client.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	// The byte may reach the socket a moment after Write returns (the loopback's softirq), so a
	// few network yields are allowed; 100 Goscheds, well under sysmon's 10 ms, never let it run.
	var y yielder
	for i := 0; i < 100 && !got.Load(); i++ {
		y.last = time.Time{}
		y.yield()
	}
	if !got.Load() {
		t.Fatal("the goroutine waiting on the network did not run during 100 yields")
	}
	<-done
	// Within the millisecond that follows, a yield is a Gosched and returns at once.
	for range 100 {
		y.yield()
	}
}
