package realtime

import (
	"sync"
	"time"
)

// rateLimit lets one log line through per period and counts the ones it holds back: while Redis
// is down every write fails the same way, and a line per write would flood the log.
type rateLimit struct {
	every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now and how many were held back since the last line.
func (r *rateLimit) allow() (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.last) >= r.every {
		n := r.suppressed
		r.last, r.suppressed = now, 0
		return n, true
	}
	r.suppressed++
	return 0, false
}
