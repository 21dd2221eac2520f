package vrrp

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoders: they must not panic,
// and whatever decodes must encode back to the same bytes (the version 3
// IPv4 checksum form included), and decode again to the same advert.
func FuzzDecode(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("testdata", "*.hex"))
	for _, n := range names {
		b := readHex(f, filepath.Base(n))
		if b[0]>>4 == 6 {
			f.Add(b[40:], true)
		} else {
			f.Add(b, false)
			f.Add(b[20:], false)
		}
	}
	f.Add([]byte{}, false)
	f.Add([]byte{0x31, 1, 2, 0, 0, 100, 0, 0}, true)
	src4, dst4 := netip.MustParseAddr("192.0.2.1"), GroupIPv4
	src6, dst6 := netip.MustParseAddr("fe80::acf2:c8ff:fe22:d7f8"), GroupIPv6
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		if !v6 {
			if a, h, err := DecodeIPv4(b); err == nil {
				enc, err := AppendIPv4(nil, &a, h)
				if err != nil {
					t.Fatalf("encode %+v: %v", a, err)
				}
				// The header's TOS, flags and options are not kept:
				// compare the VRRP message and the addresses.
				ihl := int(b[0]&0xf) * 4
				if !bytes.Equal(enc[20:], b[ihl:]) {
					t.Fatalf("round trip\n got % x\nwant % x", enc[20:], b[ihl:])
				}
				if a2, h2, err := DecodeIPv4(enc); err != nil || h2 != h || a2.Checksum != a.Checksum {
					t.Fatalf("re-decode: %v %+v", err, a2)
				}
			}
		}
		src, dst := src4, dst4
		if v6 {
			src, dst = src6, dst6
		}
		a, err := Decode(b, src, dst)
		if err != nil {
			return
		}
		enc, err := a.Append(nil, src, dst)
		if err != nil {
			t.Fatalf("encode %+v: %v", a, err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("round trip\n got % x\nwant % x", enc, b)
		}
		a2, err := Decode(enc, src, dst)
		if err != nil || a2.Checksum != a.Checksum || a2.NoPseudoHeader != a.NoPseudoHeader || len(a2.Addrs) != len(a.Addrs) {
			t.Fatalf("re-decode %+v: %v", a2, err)
		}
	})
}
