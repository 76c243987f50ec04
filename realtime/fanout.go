package realtime

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime/socketio"
)

// subscriber is anything in a room: a socket, or a Server-Sent Events stream.
type subscriber interface {
	// deliver queues an event without blocking, a socket's write until h.out.Flush; called on
	// the fan-out goroutine with the hub's lock held.
	deliver(ev *outEvent)
	// viewer is the user it receives as, with the roles last checked (for events that name a
	// document, decided per recipient); called with the hub's lock held.
	viewer() *doc.User
}

// outEvent is an event on its way out, encoded at most once per wire format and shared by every
// subscriber it goes to.
type outEvent struct {
	Event
	offset int64 // recovery position it carries: its own offset, or the last logged one

	once sync.Once
	pkt  *socketio.Packet
	err  error

	wireOnce sync.Once // message(true), shared by the subscribers of every wire format
	wire     json.RawMessage
	wireErr  error

	plainOnce sync.Once
	plain     *socketio.Packet
	plainErr  error
}

func (ev *outEvent) position() int64 {
	if ev.Offset != 0 {
		return ev.Offset
	}
	return ev.offset
}

// packet is the Socket.IO form: [event, message, "<offset>"], the offset last as Socket.IO's
// connection state recovery expects.
func (ev *outEvent) packet(delta bool) (*socketio.Packet, error) {
	if delta || ev.Event.Event != "doc_update" {
		ev.once.Do(func() {
			var msg json.RawMessage
			if msg, ev.err = ev.message(true); ev.err == nil {
				ev.pkt, ev.err = socketio.NewEvent(ev.Event.Event, msg, strconv.FormatInt(ev.position(), 10))
			}
		})
		return ev.pkt, ev.err
	}
	ev.plainOnce.Do(func() {
		var msg json.RawMessage
		if msg, ev.plainErr = ev.message(false); ev.plainErr == nil {
			ev.plain, ev.plainErr = socketio.NewEvent(ev.Event.Event, msg, strconv.FormatInt(ev.position(), 10))
		}
	})
	return ev.plain, ev.plainErr
}

// message is the event's message as clients get it. A list_update is logged with the row live
// lists match (listUpdate.Live), which no client gets: it goes out as Frappe sends it, {doctype,
// name, user}. A doc_update is logged with what changed (prev_modified, changed); without delta it
// goes out as Frappe sends it, {doctype, name, modified}.
func (ev *outEvent) message(delta bool) (json.RawMessage, error) {
	if delta {
		ev.wireOnce.Do(func() { ev.wire, ev.wireErr = ev.strip(true) })
		return ev.wire, ev.wireErr
	}
	return ev.strip(false)
}

func (ev *outEvent) strip(delta bool) (json.RawMessage, error) {
	switch {
	case ev.Event.Event == "list_update":
		var m listUpdate
		if err := json.Unmarshal(ev.Message, &m); err != nil {
			return nil, err
		}
		if m.Live == nil {
			return ev.Message, nil
		}
		m.Live = nil
		return json.Marshal(m)
	case ev.Event.Event == "doc_update" && !delta:
		var m docUpdate
		if err := json.Unmarshal(ev.Message, &m); err != nil {
			return nil, err
		}
		m.Prev, m.Changed = "", nil
		return json.Marshal(m)
	}
	return ev.Message, nil
}

// gapWait is how long logged events wait for a missing earlier offset before the gap is filled
// from the log. Within one node commits are handed over in order within microseconds; a longer
// gap means a lost hand-over (a failed bus publish), which the log repairs.
const gapWait = 250 * time.Millisecond

type batch struct {
	events []Event
	at     time.Time
}

// tailEvery is how often the fan-out also reads the shared log for events no bus brought: those
// committed by other nodes while the bus was down.
const tailEvery = time.Second

// maxCoalesce bounds the batches fanned out together, written with one system call per socket.
const maxCoalesce = 256

// A round's writes may wait for more batches to join them: up to lingerFactor times as long as
// the last round's writes took, and never more than maxLinger. Events further apart than that go
// out as they come; a stream of small commits (saves) shares writes instead of paying one system
// call per subscriber each, which is what bounds the fan-out.
const (
	lingerFactor = 3
	maxLinger    = 2 * time.Millisecond
)

// fanoutLoop delivers committed events strictly in offset order. Whatever batches are waiting
// when it gets to them go out together: each socket gets its share in one write (h.out), so a
// fan-out that falls behind catches up by writing more per system call.
func (h *Hub) fanoutLoop() {
	defer h.done.Done()
	tick := time.NewTicker(gapWait / 2)
	defer tick.Stop()
	lastTail := time.Now()
	var started []time.Time
	var lastEnd time.Time
	var lastWrite time.Duration
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		select {
		case b := <-h.queue:
			started = append(started[:0], b.at)
			h.process(b.events)
			wait := time.Until(lastEnd.Add(min(lingerFactor*lastWrite, maxLinger)))
			lingering := wait > 0
			if lingering {
				linger.Reset(wait)
			}
		gather:
			for len(started) < maxCoalesce {
				select {
				case b := <-h.queue:
					started = append(started, b.at)
					h.process(b.events)
					continue
				default:
				}
				if !lingering {
					break
				}
				select {
				case b := <-h.queue:
					started = append(started, b.at)
					h.process(b.events)
				case <-linger.C:
					break gather
				}
			}
			linger.Stop()
			begin := time.Now()
			h.out.Flush()
			lastEnd = time.Now()
			lastWrite = lastEnd.Sub(begin)
			for _, at := range started {
				h.metrics.fanoutSeconds.Observe(lastEnd.Sub(at).Seconds())
			}
		case <-tick.C:
			tail := time.Since(lastTail) >= tailEvery
			if tail {
				lastTail = time.Now()
			}
			h.fillGap(tail)
			h.out.Flush()
		case <-h.stop:
			return
		}
	}
}

func (h *Hub) process(events []Event) {
	h.mu.Lock()
	for _, ev := range events {
		switch {
		case ev.Event == viewersEvent:
			go h.sendViewers(context.Background(), ev.Room)
		case ev.Offset == 0:
			h.fanoutLocked(ev)
		case ev.Offset > h.delivered:
			h.held[ev.Offset] = ev
		}
	}
	h.drainLocked()
	h.mu.Unlock()
	h.settle()
}

// settle re-checks the rights of the users whose User documents the fan-out passed, then lets
// it go on. Events after such a change are decided on the roles it gave: the fan-out waits for
// the re-check (a few reads) rather than deliver them on the roles from before.
func (h *Hub) settle() {
	for {
		h.mu.Lock()
		users := h.recheckUsers
		h.recheckUsers = nil
		h.mu.Unlock()
		if len(users) == 0 {
			return
		}
		for _, u := range users {
			h.rightsChanged(u, "")
		}
		h.mu.Lock()
		h.drainLocked()
		h.mu.Unlock()
	}
}

// drainLocked delivers held events while they continue the sequence, until a change of rights
// is due for a re-check (settle).
func (h *Hub) drainLocked() {
	for len(h.recheckUsers) == 0 {
		ev, ok := h.held[h.delivered+1]
		if !ok {
			break
		}
		delete(h.held, ev.Offset)
		h.delivered = ev.Offset
		h.fanoutLocked(ev)
	}
	switch {
	case len(h.held) == 0:
		h.heldSince = time.Time{}
	case h.heldSince.IsZero():
		h.heldSince = time.Now()
	}
}

// fillGap reads from the log the events missing before the held ones, once they waited gapWait;
// with tail, also any newer events in the log that no bus delivered. An offset below a committed
// one that is not in the log is passed over only once it is final: on SQLite at once (one writer:
// offsets become visible in order, so it never committed), on PostgreSQL once Log.settle has
// waited for the transaction holding it or marked it as never committed.
func (h *Hub) fillGap(tail bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.mu.Lock()
	from := h.delivered
	first := int64(-1)
	for off := range h.held {
		if first < 0 || off < first {
			first = off
		}
	}
	waited := len(h.held) > 0 && time.Since(h.heldSince) >= gapWait
	h.mu.Unlock()
	if !waited {
		first = -1
		if !tail {
			return
		}
	}
	final := true
	if first < 0 {
		last, err := h.elog.last(ctx)
		if err != nil || last <= from {
			return
		}
		first = last + 1
		// Where commits are concurrent, an offset below the newest may belong to a transaction
		// committing right now: what the tail finds is held like early arrivals, and a hole among
		// it settled once it has waited gapWait.
		final = !h.e.DB().Dialect().ConcurrentCommits()
	} else if err := h.elog.settle(ctx, from, first-1); err != nil {
		// Nothing is known about the gap: skip nothing, try again on the next tick.
		h.log.Error("realtime: settling a gap in the log", "from", from, "to", first-1, "err", err)
		return
	}
	missing, err := h.elog.between(ctx, from, first-1)
	if err != nil {
		h.log.Error("realtime: filling a gap from the log", "from", from, "to", first-1, "err", err)
		return
	}
	if !final {
		h.mu.Lock()
		for _, ev := range missing {
			if ev.Offset > h.delivered {
				h.held[ev.Offset] = ev
			}
		}
		h.drainLocked()
		h.mu.Unlock()
		h.settle()
		return
	}
	h.mu.Lock()
	defer h.settle()
	defer h.mu.Unlock()
	for _, ev := range missing {
		if ev.Offset > h.delivered {
			h.held[ev.Offset] = ev
		}
	}
	// Every committed event up to first-1 is now held; an offset there that is not never
	// committed (a rolled-back transaction took it). Deliver the held ones in order, pass over the
	// holes, then go on as usual.
	var ready []int64
	for off := range h.held {
		if off < first {
			ready = append(ready, off)
		}
	}
	slices.Sort(ready)
	for _, off := range ready {
		if len(h.recheckUsers) > 0 {
			return // the rest waits for settle; a hole among it is passed over on a later round
		}
		ev := h.held[off]
		delete(h.held, off)
		if off > h.delivered {
			h.delivered = off
			h.fanoutLocked(ev)
		}
	}
	if h.delivered < first-1 {
		h.delivered = first - 1
	}
	h.drainLocked()
}

// fanoutLocked queues one event to every subscriber of its room: encoded once, same bytes for all;
// sockets write it on the next h.out.Flush.
//
// Every node sees each committed event here, in offset order, so this is also where a node learns
// of changes to rights (a User or DocType saved, credentials revoked) and of renamed documents.
func (h *Hub) fanoutLocked(ev Event) {
	switch {
	case ev.Event == revokeEvent:
		h.revokeLocked(ev)
		return
	case ev.Event == "list_update" && ev.Room == "doctype:DocType":
		// A DocType changed, maybe on another node: the events after this one are decided on its
		// new rules, so it is read now, holding up the fan-out for one read (DocTypes change
		// rarely); the rooms are re-checked after.
		h.reloadDocType(ev)
		go h.rightsChanged("", ev.changedName())
		h.listsRereadLocked(func(lq *liveQuery) bool { return lq.doctype == ev.changedName() })
	case ev.Event == "list_update" && ev.Room == "doctype:User":
		h.recheckUsers = append(h.recheckUsers, ev.changedName())
	}
	if ev.Event == "list_update" {
		for _, fn := range h.watchers[strings.TrimPrefix(ev.Room, "doctype:")] {
			fn(ev.changedName())
		}
		h.listsChangedLocked(strings.TrimPrefix(ev.Room, "doctype:"), &ev)
	}
	subs := h.rooms[ev.Room]
	if len(subs) > 0 {
		out := &outEvent{Event: ev, offset: h.delivered}
		readers := h.readers(&ev)
		for s := range subs {
			if readers == nil || readers(s.viewer()) {
				s.deliver(out)
			}
		}
	}
	if ev.Event == "doc_rename" {
		h.moveRoomsLocked(ev)
		// A rename carries no row: the live lists of its DocType read theirs again.
		for lq := range h.listsByType[ev.DocType] {
			h.queueListLocked(lq, listEvent{offset: ev.Offset})
		}
	}
}
