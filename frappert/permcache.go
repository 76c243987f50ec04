package frappert

import (
	"sync"
	"time"
)

// permCache remembers the site's has_permission answers per (credential, doctype, name) for a
// short time: a desk that opens a form subscribes to the document and its DocType from every tab,
// and each answer costs the site a request. Entries live only while a socket holds the credential:
// when its last socket is gone (and not kept for recovery), they are dropped, so a session that
// ends takes its answers with it. Site errors are not remembered.
type permCache struct {
	ttl time.Duration

	mu    sync.Mutex
	creds map[string]*credPerms
}

type credPerms struct {
	holders int
	answers map[[2]string]permAnswer
}

type permAnswer struct {
	ok bool
	at time.Time
}

func newPermCache(ttl time.Duration) *permCache {
	return &permCache{ttl: ttl, creds: map[string]*credPerms{}}
}

// hold counts one more holder of the credential.
func (c *permCache) hold(cred string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.creds[cred]
	if p == nil {
		p = &credPerms{answers: map[[2]string]permAnswer{}}
		c.creds[cred] = p
	}
	p.holders++
}

// release drops one holder; the last takes the credential's answers with it.
func (c *permCache) release(cred string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.creds[cred]; p != nil {
		if p.holders--; p.holders <= 0 {
			delete(c.creds, cred)
		}
	}
}

func (c *permCache) get(cred, doctype, name string) (ok, found bool) {
	if c.ttl <= 0 {
		return false, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.creds[cred]
	if p == nil {
		return false, false
	}
	a, found := p.answers[[2]string{doctype, name}]
	if !found || time.Since(a.at) > c.ttl {
		return false, false
	}
	return a.ok, true
}

func (c *permCache) put(cred, doctype, name string, ok bool) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.creds[cred]
	if p == nil {
		return // no socket holds it any more
	}
	now := time.Now()
	for k, a := range p.answers {
		if now.Sub(a.at) > c.ttl {
			delete(p.answers, k) // expired answers go as new ones come, so a long session stays small
		}
	}
	p.answers[[2]string{doctype, name}] = permAnswer{ok, now}
}

// size is how many credentials have answers, for tests and metrics.
func (c *permCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.creds)
}
