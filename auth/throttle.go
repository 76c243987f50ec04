package auth

import (
	"net/netip"
	"sync"
	"time"
)

// throttle slows password guessing. Failures are counted three ways, each with a lock-out that
// doubles with every further failure, up to maxLock:
//
//   - per (user, address): after pairFailures, that address may not try that user for a while.
//     This is the lock a single attacker runs into, and it locks only the attacker: the user
//     still logs in from anywhere else (a per-user lock alone would let any address lock any
//     user out, just by failing five times).
//   - per address: after ipFailures, whatever user it names (spraying one password over many users).
//   - per user, from every address together: after userFailures, counting at most pairFailures
//     from each address. Without it an attacker with many addresses would get pairFailures guesses
//     from each, unbounded; with it guessing a user's password stays at userFailures guesses and
//     then about one per maxLock, however many addresses try. The cap per address means it takes
//     userFailures/pairFailures (20) distinct addresses to lock a user out everywhere: that is the
//     price of bounding guessing, and an attack that costs 20 addresses (IPv6 counts one /64 as one
//     address, since anyone holding one has 2^64 of them) rather than one request.
//
// It is per process: a cluster of n nodes allows n times as many tries, still impractical.
type throttle struct {
	mu    sync.Mutex
	pairs map[pairKey]*failures
	users map[string]*failures
	ips   map[string]*failures
}

type pairKey struct{ user, addr string }

type failures struct {
	n     int
	until time.Time
	last  time.Time
}

const (
	pairFailures = 5
	ipFailures   = 20
	userFailures = 100
	baseLock     = 2 * time.Second
	maxLock      = 5 * time.Minute
	forgetAfter  = 30 * time.Minute
)

func newThrottle() *throttle {
	return &throttle{pairs: map[pairKey]*failures{}, users: map[string]*failures{}, ips: map[string]*failures{}}
}

// addrKey is what counts as one address: an IPv4 address, or an IPv6 /64 (one subscriber's
// network, whose 2^64 addresses would otherwise each get their own budget).
func addrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func (t *throttle) wait(user, ip string) time.Duration {
	addr := addrKey(ip)
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	var w time.Duration
	for _, f := range []*failures{t.pairs[pairKey{user, addr}], t.users[user], t.ips[addr]} {
		if f != nil && f.until.After(now) {
			w = max(w, f.until.Sub(now))
		}
	}
	return w
}

func (t *throttle) fail(user, ip string) {
	addr := addrKey(ip)
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	t.prune(now)
	if bump(t.pairs, pairKey{user, addr}, pairFailures, now) <= pairFailures {
		bump(t.users, user, userFailures, now)
	}
	bump(t.ips, addr, ipFailures, now)
}

// succeed forgets the failures of user from ip. The user-wide count stays: a victim's login must
// not hand the attackers a fresh budget; it fades after forgetAfter like the rest. Nor does the
// address's count reset, or an attacker with one account of their own could interleave
// successful logins with guesses at others.
func (t *throttle) succeed(user, ip string) {
	t.mu.Lock()
	delete(t.pairs, pairKey{user, addrKey(ip)})
	t.mu.Unlock()
}

// bump counts a failure for key and returns the count.
func bump[K comparable](m map[K]*failures, key K, free int, now time.Time) int {
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
	return f.n
}

func (t *throttle) prune(now time.Time) {
	forget(t.pairs, now)
	forget(t.users, now)
	forget(t.ips, now)
}

func forget[K comparable](m map[K]*failures, now time.Time) {
	for k, f := range m {
		if now.Sub(f.last) > forgetAfter {
			delete(m, k)
		}
	}
}
