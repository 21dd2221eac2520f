package ipvssync

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func a4(s string) [16]byte {
	var a [16]byte
	a[10], a[11] = 0xff, 0xff
	var b [4]byte
	n := 0
	v := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			b[n] = byte(v)
			n, v = n+1, 0
			continue
		}
		v = v*10 + int(s[i]-'0')
	}
	copy(a[12:], b[:])
	return a
}

func a6(last byte) [16]byte {
	return [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: last}
}

// goldenConns is the message of testdata/v1_mixed.hex: an established
// TCP DR connection, its persistence template, an IPv6 UDP NAT
// connection with sequence data, and a FullNAT connection with the local
// address parameter.
var goldenConns = []Conn{
	{Protocol: 6, Flags: FlagDRoute | FlagNoOutput, State: 1, CPort: 40000, VPort: 80, DPort: 80,
		Timeout: 900, CAddr: a4("198.51.100.7"), VAddr: a4("192.0.2.10"), DAddr: a4("203.0.113.2")},
	{Protocol: 6, Flags: FlagDRoute | FlagTemplate, VPort: 80, DPort: 80, Timeout: 300,
		CAddr: a4("198.51.100.7"), VAddr: a4("192.0.2.10"), DAddr: a4("203.0.113.2")},
	{IPv6: true, Protocol: 17, Flags: FlagMasq | FlagInactive | FlagInSeq, CPort: 5353, VPort: 53, DPort: 5300,
		FwMark: 7, Timeout: 300, CAddr: a6(7), VAddr: a6(10), DAddr: a6(2),
		HasSeq: true, InSeq: Seq{1, 2, 3}, OutSeq: Seq{4, 5, 6}},
	{Protocol: 6, Flags: FlagFullNAT, State: 1, CPort: 1025, VPort: 443, DPort: 8443, Timeout: 900,
		CAddr: a4("198.51.100.9"), VAddr: a4("192.0.2.11"), DAddr: a4("203.0.113.3"),
		HasLocal: true, LAddr: a4("203.0.113.100"), LPort: 61000},
}

func readHex(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		sb.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(sb.String())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoldenV1 checks the golden message both ways: encoding goldenConns
// gives the file's bytes, decoding the file gives goldenConns.
func TestGoldenV1(t *testing.T) {
	want := readHex(t, "v1_mixed.hex")
	buf := make([]byte, 1472)
	n, err := Encode(buf, 9, goldenConns)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(buf[:n]) != hex.EncodeToString(want) {
		t.Fatalf("encoded\n%s\nwant\n%s", hex.Dump(buf[:n]), hex.Dump(want))
	}
	var m Message
	if err := Decode(want, &m); err != nil {
		t.Fatal(err)
	}
	if m.SyncID != 9 || m.Version != 1 || !reflect.DeepEqual(m.Conns, goldenConns) {
		t.Fatalf("decoded %+v", m)
	}
}

// TestGoldenV0 decodes a version 0 message (the kernel with
// sync_version=0): two IPv4 connections, the second with sequence data.
func TestGoldenV0(t *testing.T) {
	var m Message
	if err := Decode(readHex(t, "v0_two.hex"), &m); err != nil {
		t.Fatal(err)
	}
	want := []Conn{
		{Protocol: 6, Flags: FlagDRoute, State: 1, CPort: 40000, VPort: 80, DPort: 80,
			CAddr: a4("198.51.100.7"), VAddr: a4("192.0.2.10"), DAddr: a4("203.0.113.2")},
		{Protocol: 6, Flags: FlagMasq | FlagOutSeq, State: 5, CPort: 40001, VPort: 21, DPort: 21,
			CAddr: a4("198.51.100.8"), VAddr: a4("192.0.2.10"), DAddr: a4("203.0.113.3"),
			HasSeq: true, InSeq: Seq{1, 0, 0}, OutSeq: Seq{2, 3, 4}},
	}
	if m.Version != 0 || m.SyncID != 3 || !reflect.DeepEqual(m.Conns, want) {
		t.Fatalf("decoded %+v", m)
	}
}

func TestManyConns(t *testing.T) {
	buf := make([]byte, 65000)
	var b Builder
	b.Reset(buf, 1)
	c := goldenConns[0]
	for i := 0; ; i++ {
		c.CPort = uint16(1000 + i)
		if err := b.Add(&c); err != nil {
			if !errors.Is(err, ErrNoRoom) || b.Count() != 255 {
				t.Fatalf("stopped at %d: %v", b.Count(), err)
			}
			break
		}
	}
	var m Message
	if err := Decode(b.Bytes(), &m); err != nil || len(m.Conns) != 255 || m.Conns[254].CPort != 1254 {
		t.Fatalf("decode: %v, %d conns", err, len(m.Conns))
	}
	// A 1472-byte message holds 40 IPv4 records.
	b.Reset(buf[:1472], 1)
	for b.Add(&c) == nil {
	}
	if b.Count() != 40 || b.Len() != 8+40*36 {
		t.Fatalf("1472 bytes hold %d records (%d bytes)", b.Count(), b.Len())
	}
}

func TestEncodeNoAlloc(t *testing.T) {
	buf := make([]byte, 1472)
	var b Builder
	allocs := testing.AllocsPerRun(100, func() {
		b.Reset(buf, 1)
		for i := range goldenConns {
			_ = b.Add(&goldenConns[i])
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per message", allocs)
	}
	var m Message
	m.Conns = make([]Conn, 0, 8)
	msg := b.Bytes()
	if a := testing.AllocsPerRun(100, func() { _ = Decode(msg, &m) }); a != 0 {
		t.Fatalf("decode: %v allocations", a)
	}
}

func TestDecodeBad(t *testing.T) {
	good := readHex(t, "v1_mixed.hex")
	mod := func(f func(b []byte) []byte) []byte {
		b := append([]byte(nil), good...)
		return f(b)
	}
	setSize := func(b []byte) []byte { b[2], b[3] = byte(len(b)>>8), byte(len(b)); return b }
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"three bytes", []byte{0, 1, 0}, ErrShort},
		{"size field too big", mod(func(b []byte) []byte { b[3]++; return b }), ErrSize},
		{"truncated datagram", good[:len(good)-4], ErrSize},
		{"truncated record, size fixed", mod(func(b []byte) []byte { return setSize(b[:8+20]) }), ErrTruncated},
		{"record size past end", mod(func(b []byte) []byte { b[8+3] = 0xff; return b }), ErrTruncated},
		{"record version 1", mod(func(b []byte) []byte { b[8+2] |= 0x10; return b }), ErrRecordVer},
		{"unknown record type", mod(func(b []byte) []byte { b[8] = 4; return b }), ErrRecordType},
		{"record size below type", mod(func(b []byte) []byte { b[8+3] = 20; return b }), ErrRecordSize},
		{"nonzero padding", mod(func(b []byte) []byte {
			// Record 2 (98 bytes) is followed by 2 bytes of padding.
			b[8+36+36+98] = 0xaa
			return b
		}), ErrAlign},
		{"option length zero", mod(func(b []byte) []byte { b[8+36+36+72+1] = 0; return b }), ErrOption},
		{"seq option wrong length", mod(func(b []byte) []byte { b[8+36+36+72+1] = 12; return b }), ErrOption},
		{"more conns than present", mod(func(b []byte) []byte { b[4] = 5; return b }), ErrTruncated},
		{"trailing bytes", mod(func(b []byte) []byte { b = append(b, 0, 0, 0, 0); return setSize(b) }), ErrTrailing},
		{"v0 truncated", []byte{1, 0, 0, 10, 0, 6, 0, 1, 0, 2}, ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			err := Decode(tc.in, &m)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

// An unknown mandatory parameter marks the record (the receiver skips it);
// an unknown optional one is ignored.
func TestUnknownParams(t *testing.T) {
	buf := make([]byte, 200)
	n, _ := Encode(buf, 1, goldenConns[:1])
	msg := append(buf[:n:n], 9, 2, 0xaa, 0xbb, 0x49, 1, 0xcc) // mandatory 9, optional 0x49
	msg[8+3] += 7
	msg[2], msg[3] = 0, byte(len(msg))
	var m Message
	if err := Decode(msg, &m); err != nil {
		t.Fatal(err)
	}
	if m.Conns[0].BadParam != 9 {
		t.Fatalf("BadParam %d", m.Conns[0].BadParam)
	}
}
