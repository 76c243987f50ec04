package socketio

import (
	"os"
	"runtime"
	"sync"
	"time"
)

// yielder lets a long flush give way to the goroutines waiting on the network. runtime.Gosched
// is not enough with one P: the scheduler runs every runnable goroutine before it polls the
// network, so a request that arrives during a round to thousands of sockets would be read only at
// sysmon's poll (every 10 ms) or after the round. A goroutine blocked on a pipe is woken by that
// poll, so the flush wakes a helper that writes one byte to a pipe and waits for it: the one P,
// with nothing else to run, polls the network, which finds the byte — and whatever requests
// arrived meanwhile, which then run before the flush goes on.
type yielder struct {
	once sync.Once
	mu   sync.Mutex // one caller at a time; another meanwhile only Goscheds
	r, w *os.File
	kick chan struct{}
	buf  [64]byte
	last time.Time
	ok   bool
}

// netYieldEvery is how often a flush gives way to the network (at most).
const netYieldEvery = time.Millisecond

var flushYield yielder

// yield gives way to runnable goroutines, and at most once a millisecond to the network too
// (only with one P: with more, an idle P polls).
func (y *yielder) yield() {
	if runtime.GOMAXPROCS(0) > 1 || !y.mu.TryLock() {
		runtime.Gosched()
		return
	}
	defer y.mu.Unlock()
	if time.Since(y.last) < netYieldEvery {
		runtime.Gosched()
		return
	}
	y.once.Do(func() {
		r, w, err := os.Pipe()
		if err != nil {
			return
		}
		y.r, y.w, y.kick, y.ok = r, w, make(chan struct{}), true
		go func() {
			for range y.kick {
				y.w.Write([]byte{0})
			}
		}()
	})
	if !y.ok {
		runtime.Gosched()
		return
	}
	y.kick <- struct{}{}
	y.r.Read(y.buf[:])
	y.last = time.Now()
	runtime.Gosched() // what the poll woke runs before the flush goes on
}
