package store

import "testing"

// countMedium counts bytes written.
type countMedium struct {
	MemMedium
	written int
}

func (c *countMedium) WriteAt(p []byte, off int64) (int, error) {
	c.written += len(p)
	return c.MemMedium.WriteAt(p, off)
}

func benchStore(b *testing.B) (*Store, *countMedium) {
	m := &countMedium{MemMedium: MemMedium{B: make([]byte, DefaultSize)}}
	s, err := CreateMedium(m, DefaultSize, seeded(1))
	if err != nil {
		b.Fatal(err)
	}
	personalise(b, s)
	m.written = 0
	return s, m
}

func BenchmarkVerifyPIN(b *testing.B) {
	s, m := benchStore(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := s.VerifyPIN([]byte("4711")); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(m.written)/float64(b.N), "Bwritten/op")
}

func BenchmarkPutFile(b *testing.B) {
	s, m := benchStore(b)
	data := make([]byte, 1024)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := s.PutFile("/f", "application/octet-stream", data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(m.written)/float64(b.N), "Bwritten/op")
}

func BenchmarkOpen(b *testing.B) {
	_, m := benchStore(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := OpenMedium(&m.MemMedium); err != nil {
			b.Fatal(err)
		}
	}
}
