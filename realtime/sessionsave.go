package realtime

import (
	"context"
	"errors"
	"sync"
	"time"
)

// An acknowledged subscription must survive its node's death: a client whose node is killed
// right after the ack reconnects elsewhere and is recovered with that room. So a subscribe is
// acked only once its session is in __rt_sessions. Writes are group-committed: one writer
// goroutine takes every session changed meanwhile, writes them in one transaction, and releases
// every ack waiting for them — under load, one transaction per round rather than one per
// subscribe. The periodic flush (disconnects, presence, recoveries) goes through the same writer,
// so two writes of one session never race and an older state never overwrites a newer one.

// sessionSaves are the acks (and flushes) waiting for the writer.
type sessionSaves struct {
	mu      sync.Mutex
	waiting []chan error
	kick    chan struct{} // capacity 1: a write is wanted
}

var errHubClosed = errors.New("the server is shutting down")

// saveSessions returns once every session change made before the call is written (or the write
// failed, or ctx ended).
func (h *Hub) saveSessions(ctx context.Context) error {
	done := make(chan error, 1)
	h.saves.mu.Lock()
	h.saves.waiting = append(h.saves.waiting, done)
	h.saves.mu.Unlock()
	select {
	case h.saves.kick <- struct{}{}:
	default: // a round is already wanted; it will take this waiter too
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-h.stop:
		return errHubClosed
	}
}

// sessionWriter is the one goroutine that writes sessions while the hub runs. It takes the
// waiters before the changed sessions, so each waiter's change is in this round's write or was
// in one that had already started (and that this round waited for).
func (h *Hub) sessionWriter() {
	defer h.done.Done()
	for {
		select {
		case <-h.stop:
			h.releaseSaves(errHubClosed)
			return
		case <-h.saves.kick:
		}
		h.saves.mu.Lock()
		waiting := h.saves.waiting
		h.saves.waiting = nil
		h.saves.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := h.flushSessions(ctx)
		cancel()
		for _, done := range waiting {
			done <- err
		}
	}
}

func (h *Hub) releaseSaves(err error) {
	h.saves.mu.Lock()
	defer h.saves.mu.Unlock()
	for _, done := range h.saves.waiting {
		done <- err
	}
	h.saves.waiting = nil
}
