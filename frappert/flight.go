package frappert

import "sync"

// flights lets concurrent identical calls to a site share one: a desk opened in several tabs, or
// a page whose sockets reconnect together, asks the same question of the same site with the same
// credential many times at once, and each would cost Python a request. Only calls in flight are
// shared; the answer is not kept here (permCache decides what is), so an error reaches exactly
// the askers that waited for it and the next ask calls again.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done chan struct{}
	body []byte
	err  error
}

// do returns fn's result for key, calling fn unless a call for key is already in flight, in which
// case it calls joined and waits for that call's result.
func (f *flights) do(key string, fn func() ([]byte, error), joined func()) ([]byte, error) {
	f.mu.Lock()
	if c, ok := f.m[key]; ok {
		f.mu.Unlock()
		joined()
		<-c.done
		return c.body, c.err
	}
	if f.m == nil {
		f.m = map[string]*flight{}
	}
	c := &flight{done: make(chan struct{})}
	f.m[key] = c
	f.mu.Unlock()
	c.body, c.err = fn()
	// Forgotten before the waiters wake, so an ask from now on is a new call.
	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
	close(c.done)
	return c.body, c.err
}
