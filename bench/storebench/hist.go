package main

import (
	"math/bits"
	"time"
)

// hist is a log-linear latency histogram (HDR-style: 64 sub-buckets per
// power of two, so a reported value is within 1.6% of the true one).
// Recording is one array increment: no allocation while the load runs, so
// the memory store's heap and the Go scheduler see only the store's work.
type hist struct {
	counts [58 * 64]uint64 // up to 2^63 ns
	n      uint64
}

const subBits = 6

func bucketOf(ns uint64) int {
	if ns < 1<<subBits {
		return int(ns)
	}
	shift := bits.Len64(ns) - subBits - 1
	return (shift+1)<<subBits + int(ns>>shift) - 1<<subBits
}

// lowerBound is the smallest value that falls in bucket b.
func lowerBound(b int) uint64 {
	if b < 1<<subBits {
		return uint64(b)
	}
	shift := b>>subBits - 1
	return uint64(b&(1<<subBits-1)+1<<subBits) << shift
}

func (h *hist) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	b := bucketOf(uint64(d))
	if b >= len(h.counts) {
		b = len(h.counts) - 1
	}
	h.counts[b]++
	h.n++
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the value at quantile q (0..1): the midpoint of the
// bucket holding it.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := lowerBound(b), lowerBound(b+1)
			return time.Duration(lo + (hi-lo)/2)
		}
	}
	return 0
}
