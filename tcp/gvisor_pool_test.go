package tcp

import (
	"context"
	"math/rand"
	"net/netip"
	"testing"
	"time"
)

// TestGVisorUploadsRecordsPooled: two gVisor connections upload record
// streams (records up to 8 KiB) at once to a stack whose slots own 1 KiB
// receive buffers and share one large buffer. The card-side readers take
// whole records in place, announcing each with Reserve, so the connections
// take turns with the large buffer while gVisor waits on zero windows;
// every record arrives intact.
//
// The shed variant sheds the stack's empty buffers before every Input and
// after every Output: the large buffer is dropped whenever it is free and
// allocated again by the next loan.
func TestGVisorUploadsRecordsPooled(t *testing.T) {
	if testing.Short() {
		t.Skip("interop")
	}
	t.Run("plain", func(t *testing.T) { gvisorUploadsRecordsPooled(t, false) })
	t.Run("shed", func(t *testing.T) { gvisorUploadsRecordsPooled(t, true) })
}

func gvisorUploadsRecordsPooled(t *testing.T, shed bool) {
	l, tnet := newCardLoopCfg(t, 1500, 8192, 0)
	cfg := l.st.Config()
	cfg.RecvBuf, cfg.SmallRecvBuf, cfg.LargeRecvBufs = 8192, 1024, 1
	cfg.Rand = newRand(8)
	l.st = NewStack(cfg)
	l.shed = shed
	ln, err := l.st.Listen(8080, 4)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(3))
	const conns = 2
	var readers [conns]*recordReader
	res := make(chan error, conns)
	src := records(rng, 256<<10, 8192) // the same stream on both: accept order does not matter
	for i := range readers {
		readers[i] = &recordReader{want: src, reserve: true, rng: rand.New(rand.NewSource(int64(i)))}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			conn, err := tnet.DialContextTCPAddrPort(ctx, netip.AddrPortFrom(netip.AddrFrom4(cardAddr), 8080))
			if err != nil {
				res <- err
				return
			}
			defer conn.Close()
			if _, err = conn.Write(src); err == nil {
				err = conn.CloseWrite()
			}
			res <- err
		}()
	}
	done := 0
	l.run(func() {
		for c := ln.Accept(); c != nil; c = ln.Accept() {
			for _, r := range readers {
				if r.c == nil {
					r.c = c
					break
				}
			}
		}
		for _, r := range readers {
			if r.got < len(r.want) {
				r.pump(t)
			}
		}
		if err := checkPool(l.st); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-res:
			if err != nil {
				t.Fatalf("gVisor side: %v", err)
			}
			done++
		default:
		}
	}, func() bool {
		for _, r := range readers {
			if r.c == nil || r.got < len(r.want) || !r.c.EOF() {
				return false
			}
		}
		return done == conns
	}, 60*time.Second)
	st := l.st.Stats()
	t.Logf("records %d/%d; large buffer lent %d times, %d waits, %d growths; segs in/out %d/%d",
		readers[0].records, readers[1].records, st.LargeBorrows, st.LargeWaits, st.LargeGrowths, st.SegsIn, st.SegsOut)
	if st.LargeBorrows == 0 {
		t.Fatal("the large buffer was never lent")
	}
	if shed && l.shedBytes == 0 {
		t.Fatal("nothing shed")
	}
	t.Logf("%d bytes shed", l.shedBytes)
	for _, r := range readers {
		r.c.Close()
	}
}
