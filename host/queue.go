package host

import "sync"

// packetQueue is a bounded FIFO of IP packets between goroutines (the
// packet source and the PPP loop). Buffers are recycled; when full, new
// packets are dropped and counted, as a router would. maxBytes, if > 0,
// also bounds the bytes queued (a queue ahead of a slow serial line is
// measured in line time: packets, not bytes, would let it hold tens of
// seconds of a flood ahead of everyone else's packets).
type packetQueue struct {
	mu       sync.Mutex
	ring     [][]byte
	head, n  int
	bytes    int
	maxBytes int
	spare    [][]byte
	dropped  uint64
}

func newPacketQueue(n, maxBytes int) *packetQueue {
	if n <= 0 {
		n = 64
	}
	return &packetQueue{ring: make([][]byte, n), maxBytes: maxBytes}
}

// push copies p into the queue; false if it was full.
func (q *packetQueue) push(p []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == len(q.ring) || q.maxBytes > 0 && q.n > 0 && q.bytes+len(p) > q.maxBytes {
		q.dropped++
		return false
	}
	var b []byte
	if k := len(q.spare); k > 0 && cap(q.spare[k-1]) >= len(p) {
		b = q.spare[k-1][:len(p)]
		q.spare = q.spare[:k-1]
	} else {
		b = make([]byte, len(p), max(len(p), 2048))
	}
	copy(b, p)
	q.ring[(q.head+q.n)%len(q.ring)] = b
	q.n++
	q.bytes += len(b)
	return true
}

// pop copies the oldest packet into dst and returns its length (0 if the
// queue is empty). A packet larger than dst is dropped.
func (q *packetQueue) pop(dst []byte) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.n > 0 {
		b := q.ring[q.head]
		q.ring[q.head] = nil
		q.head = (q.head + 1) % len(q.ring)
		q.n--
		q.bytes -= len(b)
		if len(q.spare) < 16 {
			q.spare = append(q.spare, b)
		}
		if len(b) <= len(dst) {
			return copy(dst, b)
		}
		q.dropped++
	}
	return 0
}

func (q *packetQueue) stats() (queued int, dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n, q.dropped
}
