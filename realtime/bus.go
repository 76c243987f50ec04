package realtime

import (
	"context"
	"sync"
)

// Bus carries committed events to the fan-out of every node. In one process it is a function
// call; across nodes it is Redis. Publish returns an error when the events could not be handed
// over: they are in the log, so nothing is lost, but the caller must know.
type Bus interface {
	Publish(ctx context.Context, events []Event) error
	// Subscribe registers the node's delivery function; it is called with batches in the order the
	// bus received them.
	Subscribe(deliver func([]Event))
	// Health is nil while the bus can carry events.
	Health(ctx context.Context) error
}

// LocalBus is the in-process bus of a single node.
type LocalBus struct {
	mu      sync.RWMutex
	deliver []func([]Event)
}

// NewLocalBus returns an in-process bus.
func NewLocalBus() *LocalBus { return &LocalBus{} }

// Publish hands events to every subscriber.
func (b *LocalBus) Publish(ctx context.Context, events []Event) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, d := range b.deliver {
		d(events)
	}
	return nil
}

// Subscribe adds a delivery function.
func (b *LocalBus) Subscribe(deliver func([]Event)) {
	b.mu.Lock()
	b.deliver = append(b.deliver, deliver)
	b.mu.Unlock()
}

// Health is always nil: a function call cannot fail.
func (b *LocalBus) Health(ctx context.Context) error { return nil }
