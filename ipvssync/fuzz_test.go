package ipvssync

import (
	"reflect"
	"testing"
	"time"
)

// FuzzDecode: Decode never panics; what it accepts re-encodes to a
// version 1 message that decodes to the same records (less what the
// encoder does not write: unknown parameters, a PE name without data, the
// hashed flag).
func FuzzDecode(f *testing.F) {
	buf := make([]byte, 1472)
	n, _ := Encode(buf, 9, goldenConns)
	f.Add(append([]byte(nil), buf[:n]...))
	n, _ = Encode(buf, 0, goldenConns[:1])
	f.Add(append([]byte(nil), buf[:n]...))
	f.Add([]byte{2, 3, 0, 4})
	f.Add([]byte{0, 1, 0, 8, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Message
		if err := Decode(data, &m); err != nil {
			return
		}
		want := make([]Conn, len(m.Conns))
		for i, c := range m.Conns {
			c.BadParam = 0
			c.Flags &^= FlagHashed
			if len(c.PEData) == 0 {
				c.PEName = nil
				c.PEData = nil
			}
			if len(c.PEName) == 0 {
				c.PEName = nil
			}
			want[i] = c
		}
		out := make([]byte, 65535)
		var b Builder
		b.Reset(out, m.SyncID)
		for i := range want {
			if err := b.Add(&want[i]); err != nil {
				t.Fatalf("re-encode record %d: %v", i, err)
			}
		}
		var m2 Message
		if err := Decode(b.Bytes(), &m2); err != nil {
			t.Fatalf("decode re-encoded: %v", err)
		}
		if len(want) == 0 {
			want = nil
		}
		got := m2.Conns
		if len(got) == 0 {
			got = nil
		}
		if m2.SyncID != m.SyncID || !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip\n got %+v\nwant %+v", got, want)
		}
	})
}

// FuzzAuth: the verifier never panics and accepts only what the signer
// produced.
func FuzzAuth(f *testing.F) {
	key := []byte("k")
	s := newSigner(key)
	now := time.Unix(1e9, 0)
	buf := make([]byte, 1472)
	n, _ := Encode(buf, 1, goldenConns[:1])
	f.Add(append([]byte(nil), s.sign(buf, n, now)...))
	f.Fuzz(func(t *testing.T, d []byte) {
		m, err := newSigner(key).verify(d, now)
		if err == nil && len(m) != len(d)-trailerLen {
			t.Fatal("bad message length")
		}
	})
}
