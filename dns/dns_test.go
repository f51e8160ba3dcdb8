package dns

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// buildResponse builds a compressed response with x/net's dnsmessage.
func buildResponse(t testing.TB, id uint16, rcode dnsmessage.RCode, qname string, build func(b *dnsmessage.Builder)) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, Response: true, RecursionDesired: true, RecursionAvailable: true, RCode: rcode})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		t.Fatal(err)
	}
	if err := b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(qname), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}); err != nil {
		t.Fatal(err)
	}
	if build != nil {
		build(&b)
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func rh(name string, typ dnsmessage.Type) dnsmessage.ResourceHeader {
	return dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET, TTL: 300}
}

func cnameA(b *dnsmessage.Builder) {
	b.StartAnswers()
	b.CNAMEResource(rh("www.example.com.", dnsmessage.TypeCNAME), dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName("edge.example.net.")})
	b.AResource(rh("edge.example.net.", dnsmessage.TypeA), dnsmessage.AResource{A: [4]byte{93, 184, 216, 34}})
	b.StartAuthorities()
	b.NSResource(rh("example.net.", dnsmessage.TypeNS), dnsmessage.NSResource{NS: dnsmessage.MustNewName("ns1.example.net.")})
	b.StartAdditionals()
	b.AResource(rh("ns1.example.net.", dnsmessage.TypeA), dnsmessage.AResource{A: [4]byte{192, 0, 2, 53}})
}

func TestParseCompressedResponse(t *testing.T) {
	msg := buildResponse(t, 0x1234, dnsmessage.RCodeSuccess, "www.example.com.", cnameA)
	if !bytes.Contains(msg, []byte{0xc0}) {
		t.Fatal("test message not compressed")
	}
	var p Parser
	h, err := p.Start(msg)
	if err != nil || h.ID != 0x1234 || !h.Response() || !h.RecursionAvailable() || !h.RecursionDesired() || h.RCode() != 0 ||
		h.QDCount != 1 || h.ANCount != 2 || h.NSCount != 1 || h.ARCount != 1 || h.Truncated() || h.Opcode() != 0 {
		t.Fatalf("header %+v %v", h, err)
	}
	var q Question
	if err := p.Question(&q); err != nil || q.Name.String() != "www.example.com." || q.Type != TypeA || q.Class != ClassINET {
		t.Fatalf("question %v %v", q.Name.String(), err)
	}
	if err := p.Question(&q); err != ErrSectionDone {
		t.Fatal("second question")
	}
	type rec struct {
		sec  int
		name string
		typ  uint16
		data string
	}
	want := []rec{
		{SectionAnswer, "www.example.com.", TypeCNAME, "edge.example.net."},
		{SectionAnswer, "edge.example.net.", TypeA, "5db8d822"},
		{SectionAuthority, "example.net.", TypeNS, "ns1.example.net."},
		{SectionAdditional, "ns1.example.net.", TypeA, "c0000235"},
	}
	var r Resource
	for i, w := range want {
		sec, err := p.Resource(&r)
		if err != nil {
			t.Fatal(i, err)
		}
		data := hex.EncodeToString(r.Data)
		if r.Type == TypeCNAME || r.Type == TypeNS {
			var n Name
			if err := p.NameAt(r.DataOff, &n); err != nil {
				t.Fatal(err)
			}
			data = n.String()
		}
		if sec != w.sec || r.Name.String() != w.name || r.Type != w.typ || data != w.data || r.TTL != 300 || r.Class != ClassINET {
			t.Fatalf("record %d: sec %d %s type %d %s", i, sec, r.Name.String(), r.Type, data)
		}
	}
	if _, err := p.Resource(&r); err != ErrSectionDone {
		t.Fatal("extra record")
	}
	if _, err := Validate(msg); err != nil {
		t.Fatal(err)
	}
}

// A response as captured from a real resolver (dig example.com, trimmed):
// question example.com A, one answer with a c00c pointer.
const capturedHex = "a1b281800001000100000000076578616d706c6503636f6d0000010001" +
	"c00c000100010000012c00045db8d822"

func TestParseCaptured(t *testing.T) {
	msg, _ := hex.DecodeString(capturedHex)
	var p Parser
	h, _ := p.Start(msg)
	var r Resource
	sec, err := p.Resource(&r) // skips the question
	if err != nil || sec != SectionAnswer || h.ID != 0xa1b2 || r.Name.String() != "example.com." || !bytes.Equal(r.Data, []byte{93, 184, 216, 34}) {
		t.Fatalf("%v %s %x", err, r.Name.String(), r.Data)
	}
	// Cross-check with x/net's parser.
	var xp dnsmessage.Parser
	if _, err := xp.Start(msg); err != nil {
		t.Fatal(err)
	}
	xp.SkipAllQuestions()
	a, err := xp.AnswerHeader()
	if err != nil || a.Name.String() != r.Name.String() {
		t.Fatal("x/net disagrees")
	}
}

func TestQueryInterop(t *testing.T) {
	var n Name
	if err := n.Set("Www.Example.COM"); err != nil {
		t.Fatal(err)
	}
	q := AppendQuery(nil, 0xbeef, &n, TypeA)
	var xp dnsmessage.Parser
	h, err := xp.Start(q)
	if err != nil || h.ID != 0xbeef || !h.RecursionDesired || h.Response {
		t.Fatal("x/net rejects our query header")
	}
	xq, err := xp.Question()
	if err != nil || xq.Name.String() != "Www.Example.COM." || xq.Type != dnsmessage.TypeA || xq.Class != dnsmessage.ClassINET {
		t.Fatalf("x/net reads %v %v", xq, err)
	}
	// And ours equals what x/net builds.
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 0xbeef, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("Www.Example.COM."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	want, _ := b.Finish()
	if !bytes.Equal(q, want) {
		t.Fatalf("query\n%x\nx/net\n%x", q, want)
	}
}

func TestNames(t *testing.T) {
	good := map[string]string{
		"example.com":  "example.com.",
		"example.com.": "example.com.",
		".":            ".",
		"a":            "a.",
		"x_y.a-b.C9":   "x_y.a-b.C9.",
		"a b.c":        "a\\032b.c.",
	}
	for in, out := range good {
		var n Name
		if err := n.Set(in); err != nil || n.String() != out {
			t.Errorf("%q: %q %v", in, n.String(), err)
		}
	}
	for _, in := range []string{"", "..", "a..b", ".a", "a..", strings.Repeat("a", 64) + ".com", strings.Repeat("abcdefg.", 32) + "com"} {
		var n Name
		if err := n.Set(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
	// The longest legal name: 253 characters.
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61)
	var n, m Name
	if err := n.Set(long); err != nil || len(n.Wire()) != 255 {
		t.Fatal("253-character name refused", err)
	}
	m.Set(strings.ToUpper(long))
	if !n.Equal(&m) {
		t.Fatal("case-insensitive compare")
	}
	m.Set("other.name")
	if n.Equal(&m) {
		t.Fatal("different names equal")
	}
}

func TestMalicious(t *testing.T) {
	hdr := func(qd, an uint16) []byte {
		return []byte{0, 1, 0x81, 0x80, byte(qd >> 8), byte(qd), byte(an >> 8), byte(an), 0, 0, 0, 0}
	}
	cases := []struct {
		name string
		msg  []byte
		err  error
	}{
		{"short header", []byte{1, 2, 3}, ErrShort},
		{"self pointer", append(hdr(1, 0), 0xc0, 12, 0, 1, 0, 1), ErrPointer},
		{"forward pointer", append(hdr(1, 0), 0xc0, 14, 0, 1, 0, 1), ErrPointer},
		{"pointer loop", append(hdr(1, 0), 1, 'a', 0xc0, 12, 0, 1, 0, 1), ErrPointer},
		{"pointer beyond", append(hdr(1, 0), 0xff, 0xff), ErrPointer},
		{"cut pointer", append(hdr(1, 0), 0xc0), ErrShort},
		{"reserved label", append(hdr(1, 0), 0x40, 0), ErrLabelType},
		{"cut label", append(hdr(1, 0), 5, 'a', 'b'), ErrShort},
		{"huge counts", hdr(65535, 65535), ErrShort},
		{"cut question", append(hdr(1, 0), 0, 0, 1), ErrShort},
		{"rdlength beyond", append(hdr(0, 1), 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 9, 1, 2), ErrShort},
	}
	for _, c := range cases {
		if _, err := Validate(c.msg); !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want %v", c.name, err, c.err)
		}
	}
	// A name built of pointers to ever longer suffixes exceeding 255 bytes.
	msg := hdr(1, 0)
	for i := 0; i < 5; i++ {
		msg = append(msg, 63)
		msg = append(msg, bytes.Repeat([]byte{'x'}, 63)...)
	}
	msg = append(msg, 0, 0, 1, 0, 1)
	if _, err := Validate(msg); err != ErrNameTooLong {
		t.Fatalf("long name: %v", err)
	}
}

func TestParseAllocs(t *testing.T) {
	msg := buildResponse(t, 1, dnsmessage.RCodeSuccess, "www.example.com.", cnameA)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Validate(msg); err != nil {
			panic(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs", allocs)
	}
}

func BenchmarkValidate(b *testing.B) {
	msg := buildResponse(b, 1, dnsmessage.RCodeSuccess, "www.example.com.", cnameA)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Validate(msg)
	}
}
