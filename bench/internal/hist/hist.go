// Package hist is a lock-free log-linear latency histogram: 128 linear sub-buckets per power of
// two (relative error under 0.8%), fixed size, safe for concurrent Record from many goroutines.
package hist

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

const (
	subBits = 7
	sub     = 1 << subBits // sub-buckets per power of two
	nBucket = sub + (64-subBits)*sub
)

// Histogram records non-negative durations in nanoseconds. The zero value is ready to use.
type Histogram struct {
	counts [nBucket]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Int64
	under  atomic.Uint64 // negative samples (clock skew), counted as 0
}

func index(v int64) int {
	if v < sub {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits - 1
	return sub + shift*sub + int(uint64(v)>>shift) - sub
}

// lower and width of bucket i.
func bounds(i int) (lo, width int64) {
	if i < sub {
		return int64(i), 1
	}
	shift := (i - sub) / sub
	m := int64((i-sub)%sub + sub)
	return m << shift, int64(1) << shift
}

// Record adds one sample.
func (h *Histogram) Record(ns int64) {
	if ns < 0 {
		h.under.Add(1)
		ns = 0
	}
	h.counts[index(ns)].Add(1)
	h.n.Add(1)
	h.sum.Add(uint64(ns))
	for {
		m := h.max.Load()
		if ns <= m || h.max.CompareAndSwap(m, ns) {
			break
		}
	}
}

// Count is the number of samples.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Negative is the number of negative samples (recorded as 0).
func (h *Histogram) Negative() uint64 { return h.under.Load() }

// Max is the largest sample, exact.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean is the exact mean.
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the q-quantile (0..1), the midpoint of its bucket, capped at Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, w := bounds(i)
			return min(time.Duration(lo+w/2), h.Max())
		}
	}
	return h.Max()
}
