package hist

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestIndexBounds(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 123456789, 1 << 62, 1<<63 - 1} {
		i := index(v)
		lo, w := bounds(i)
		if v < lo || v >= lo+w && lo+w > lo {
			t.Errorf("v=%d: bucket %d is [%d,%d)", v, i, lo, lo+w)
		}
		if i >= nBucket {
			t.Errorf("v=%d: index %d out of range", v, i)
		}
	}
}

func TestQuantiles(t *testing.T) {
	var h Histogram
	vals := make([]int64, 100000)
	for i := range vals {
		vals[i] = rand.Int64N(int64(50 * time.Millisecond))
		h.Record(vals[i])
	}
	sort.Slice(vals, func(a, b int) bool { return vals[a] < vals[b] })
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want := float64(vals[int(q*float64(len(vals)))-1])
		got := float64(h.Quantile(q))
		if got < want*0.99 || got > want*1.01 {
			t.Errorf("q%v = %v, want about %v", q, time.Duration(got), time.Duration(want))
		}
	}
	if h.Max() != time.Duration(vals[len(vals)-1]) {
		t.Errorf("max %v", h.Max())
	}
}

func BenchmarkRecord(b *testing.B) {
	var h Histogram
	b.RunParallel(func(pb *testing.PB) {
		v := int64(1000)
		for pb.Next() {
			h.Record(v)
			v = (v*7 + 13) % 50_000_000
		}
	})
}
