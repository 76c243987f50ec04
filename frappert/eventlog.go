package frappert

import (
	"encoding/json"
	"time"
)

// entry is one event Frappe published, with the offset this server gave it. Offsets are one
// sequence for all sites (a client only ever compares its own).
type entry struct {
	offset  int64
	site    string // "" for an event to every site
	room    string // "" for every socket of the site(s)
	event   string
	message json.RawMessage
	at      time.Time
}

// eventLog keeps the newest events in memory, bounded by count and age, so a client that
// reconnects within the recovery window gets what it missed. It is a ring: appending never
// allocates once full, and the oldest events go first. Guarded by the Server's lock.
type eventLog struct {
	ring   []entry
	start  int // index of the oldest entry
	n      int
	maxAge time.Duration
	next   int64 // the offset the next event gets
}

func newEventLog(size int, maxAge time.Duration) *eventLog {
	return &eventLog{ring: make([]entry, size), maxAge: maxAge, next: 1}
}

// append gives e the next offset and keeps it.
func (l *eventLog) append(e entry) entry {
	e.offset = l.next
	l.next++
	if len(l.ring) == 0 {
		return e
	}
	if l.n == len(l.ring) {
		l.ring[l.start] = entry{}
		l.start = (l.start + 1) % len(l.ring)
		l.n--
	}
	l.ring[(l.start+l.n)%len(l.ring)] = e
	l.n++
	return e
}

// restore keeps an event logged before (by a previous process), with its own offset; events are
// restored oldest first, and the next appended follows the last.
func (l *eventLog) restore(e entry) {
	l.next = e.offset
	l.append(e)
}

// last is the offset of the newest event (0 before the first).
func (l *eventLog) last() int64 { return l.next - 1 }

// since returns the kept events after offset that match, oldest first; ok is false when events
// after offset are no longer kept (too old or pushed out), and the client must start fresh.
func (l *eventLog) since(offset int64, match func(*entry) bool) (out []entry, ok bool) {
	l.prune()
	if offset >= l.last() {
		return nil, offset <= l.last()
	}
	if l.n == 0 || l.ring[l.start].offset > offset+1 {
		return nil, false
	}
	for i := 0; i < l.n; i++ {
		e := &l.ring[(l.start+i)%len(l.ring)]
		if e.offset > offset && match(e) {
			out = append(out, *e)
		}
	}
	return out, true
}

// prune forgets events older than maxAge.
func (l *eventLog) prune() {
	cut := time.Now().Add(-l.maxAge)
	for l.n > 0 && l.ring[l.start].at.Before(cut) {
		l.ring[l.start] = entry{}
		l.start = (l.start + 1) % len(l.ring)
		l.n--
	}
}
