package socketio

import (
	"net"
	"net/http"
	"strconv"
	"time"
)

// Defaults of the per-address limits (Options).
const (
	DefaultMaxConnectionsPerAddr = 1000
	DefaultHandshakeRate         = 20
	DefaultHandshakeBurst        = 200
)

// RemoteHost is the default Options.ClientAddr: the host of the TCP peer.
// X-Forwarded-For and the like are not trusted: any client can send them.
func RemoteHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// ClientAddr is the client address the per-address limits count r under.
func (srv *Server) ClientAddr(r *http.Request) string {
	if f := srv.opts.ClientAddr; f != nil {
		return f(r)
	}
	return RemoteHost(r)
}

// admit applies the per-address limits to a handshake: a token from the address's bucket and a
// place among its open sessions, released by removeSession (or by release when no session comes
// of it). A refusal is answered here, and admit reports false.
//
// The refusal is HTTP 429 with Retry-After. Engine.IO has no error code for "too many": its
// clients do not read the body or the status of a failed handshake, they treat any non-2xx as a
// transport error and reconnect with their backoff, so the status is free. 429 says what
// happened to proxies, logs and curl; the body keeps Engine.IO's shape with code 4, the code the
// reference server answers when its allowRequest hook refuses a handshake.
func (srv *Server) admit(w http.ResponseWriter, r *http.Request) (addr string, ok bool) {
	addr = srv.ClientAddr(r)
	now := time.Now()
	srv.mu.Lock()
	if wait, ok := srv.handshakes.take(addr, now); !ok {
		srv.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
		writeError(w, http.StatusTooManyRequests, codeForbidden, "too many handshakes from this address: retry later")
		return "", false
	}
	if limit := srv.opts.MaxConnectionsPerAddr; limit > 0 && srv.perAddr[addr] >= limit {
		srv.mu.Unlock()
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusTooManyRequests, codeForbidden,
			"too many connections from this address (limit "+strconv.Itoa(limit)+")")
		return "", false
	}
	srv.perAddr[addr]++
	srv.mu.Unlock()
	return addr, true
}

// release gives back a place admit took.
func (srv *Server) release(addr string) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.releaseLocked(addr)
}

func (srv *Server) releaseLocked(addr string) {
	if n := srv.perAddr[addr]; n > 1 {
		srv.perAddr[addr] = n - 1
	} else {
		delete(srv.perAddr, addr)
	}
}

// rateLimiter is a token bucket per address, kept as the generic cell rate algorithm: one time
// per address, the moment its bucket would be full again. An address whose bucket is full is
// forgotten, so the limiter holds only the addresses seen in the last burst/rate seconds.
type rateLimiter struct {
	interval  time.Duration // one token's worth of time; 0: no limit
	tolerance time.Duration // burst × interval
	full      map[string]time.Time
	swept     time.Time
}

func newRateLimiter(rate float64, burst int) rateLimiter {
	if rate < 0 {
		return rateLimiter{}
	}
	interval := time.Duration(float64(time.Second) / rate)
	return rateLimiter{interval: interval, tolerance: time.Duration(burst) * interval, full: map[string]time.Time{}}
}

// take takes a token for addr at now, or says how long until there is one.
func (l *rateLimiter) take(addr string, now time.Time) (time.Duration, bool) {
	if l.interval == 0 {
		return 0, true
	}
	if now.Sub(l.swept) >= l.tolerance {
		for a, t := range l.full {
			if !t.After(now) {
				delete(l.full, a)
			}
		}
		l.swept = now
	}
	t := l.full[addr]
	if t.Before(now) {
		t = now
	}
	t = t.Add(l.interval)
	if over := t.Sub(now) - l.tolerance; over > 0 {
		return over, false
	}
	l.full[addr] = t
	return 0, true
}
