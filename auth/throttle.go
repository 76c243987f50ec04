package auth

import (
	"sync"
	"time"
)

// throttle slows password guessing: after freeFailures failed logins for one user name, or
// ipFailures from one address, further tries are refused for a lock-out that doubles with each
// failure, up to maxLock. It is per process, which is enough to make guessing impractical.
type throttle struct {
	mu    sync.Mutex
	users map[string]*failures
	ips   map[string]*failures
}

type failures struct {
	n     int
	until time.Time
	last  time.Time
}

const (
	freeFailures = 5
	ipFailures   = 20
	baseLock     = 2 * time.Second
	maxLock      = 5 * time.Minute
	forgetAfter  = 30 * time.Minute
)

func newThrottle() *throttle {
	return &throttle{users: map[string]*failures{}, ips: map[string]*failures{}}
}

func (t *throttle) wait(user, ip string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	var w time.Duration
	for _, f := range []*failures{t.users[user], t.ips[ip]} {
		if f != nil && f.until.After(now) {
			w = max(w, f.until.Sub(now))
		}
	}
	return w
}

func (t *throttle) fail(user, ip string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	t.prune(now)
	bump(t.users, user, freeFailures, now)
	bump(t.ips, ip, ipFailures, now)
}

func (t *throttle) succeed(user string) {
	t.mu.Lock()
	delete(t.users, user)
	t.mu.Unlock()
}

func bump(m map[string]*failures, key string, free int, now time.Time) {
	f := m[key]
	if f == nil {
		f = &failures{}
		m[key] = f
	}
	f.n++
	f.last = now
	if f.n >= free {
		lock := baseLock << min(f.n-free, 16)
		f.until = now.Add(min(lock, maxLock))
	}
}

func (t *throttle) prune(now time.Time) {
	for _, m := range []map[string]*failures{t.users, t.ips} {
		for k, f := range m {
			if now.Sub(f.last) > forgetAfter {
				delete(m, k)
			}
		}
	}
}
