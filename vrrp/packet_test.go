package vrrp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files written by gdirector (testdata/gdirector_*.hex)")

// readHex reads a golden file: '#' lines are comments, the rest hex with
// blanks.
func readHex(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		sb.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(sb.String())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

func writeHex(t *testing.T, name, comment string, b []byte) {
	t.Helper()
	var sb strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(comment), "\n") {
		sb.WriteString("# " + l + "\n")
	}
	h := hex.EncodeToString(b)
	for len(h) > 0 {
		line := h[:min(32, len(h))]
		h = h[len(line):]
		var words []string
		for len(line) > 0 {
			words = append(words, line[:min(4, len(line))])
			line = line[min(4, len(line)):]
		}
		sb.WriteString(strings.Join(words, " ") + "\n")
	}
	if err := os.WriteFile(filepath.Join("testdata", name), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ipv6Packet splits an IPv6 packet of the golden files (no extension
// headers) into source, destination, hop limit and payload.
func ipv6Packet(t testing.TB, b []byte) (src, dst netip.Addr, hops int, payload []byte) {
	t.Helper()
	if len(b) < 40 || b[0]>>4 != 6 || b[6] != Protocol {
		t.Fatalf("not an IPv6 VRRP packet: % x", b)
	}
	return netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40])), int(b[7]), b[40:]
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func pass(pw string) (p [8]byte) { copy(p[:], pw); return }

// TestGoldenKeepalived decodes adverts that keepalived 2.2.7 sent (see
// the files' comments) and encodes them back to the same bytes.
func TestGoldenKeepalived(t *testing.T) {
	ka6 := netip.MustParseAddr("fe80::acf2:c8ff:fe22:d7f8")
	for _, tc := range []struct {
		file string
		want Advert
		src  netip.Addr
		dst  netip.Addr
		id   uint16
	}{
		{"keepalived_v2_pass.hex", Advert{Version: 2, VRID: 51, Priority: 100, Interval: 1, AuthType: AuthPass,
			AuthData: pass("secret"), Addrs: addrs("192.0.2.100", "192.0.2.101"), Checksum: 0xb8b2}, addrs("192.0.2.1")[0], GroupIPv4, 1},
		{"keepalived_v2_pass_prio0.hex", Advert{Version: 2, VRID: 51, Priority: 0, Interval: 1, AuthType: AuthPass,
			AuthData: pass("secret"), Addrs: addrs("192.0.2.100", "192.0.2.101")}, addrs("192.0.2.1")[0], GroupIPv4, 4},
		{"keepalived_v3_ipv4.hex", Advert{Version: 3, VRID: 52, Priority: 150, Interval: 50,
			Addrs: addrs("192.0.2.102")}, addrs("192.0.2.1")[0], GroupIPv4, 1},
		{"keepalived_v3_ipv4_prio0.hex", Advert{Version: 3, VRID: 52, Priority: 0, Interval: 50,
			Addrs: addrs("192.0.2.102")}, addrs("192.0.2.1")[0], GroupIPv4, 10},
		{"keepalived_v3_ipv4_unicast.hex", Advert{Version: 3, VRID: 54, Priority: 120, Interval: 100,
			Addrs: addrs("192.0.2.104")}, addrs("192.0.2.1")[0], addrs("192.0.2.2")[0], 1},
		{"keepalived_v3_ipv6.hex", Advert{Version: 3, VRID: 53, Priority: 200, Interval: 100,
			Addrs: addrs("2001:db8::100", "2001:db8::101")}, ka6, GroupIPv6, 0},
		{"keepalived_v3_ipv6_prio0.hex", Advert{Version: 3, VRID: 53, Priority: 0, Interval: 100,
			Addrs: addrs("2001:db8::100", "2001:db8::101")}, ka6, GroupIPv6, 0},
	} {
		t.Run(tc.file, func(t *testing.T) {
			pkt := readHex(t, tc.file)
			var got Advert
			var err error
			var enc []byte
			if tc.src.Is4() {
				var h IPv4Header
				got, h, err = DecodeIPv4(pkt)
				if err != nil {
					t.Fatal(err)
				}
				if want := (IPv4Header{Src: tc.src, Dst: tc.dst, TTL: 255, ID: tc.id}); h != want {
					t.Fatalf("header %+v, want %+v", h, want)
				}
				enc, err = AppendIPv4(nil, &got, h)
			} else {
				src, dst, hops, payload := ipv6Packet(t, pkt)
				if src != tc.src || dst != tc.dst || hops != 255 {
					t.Fatalf("IPv6 %v > %v hop limit %d", src, dst, hops)
				}
				got, err = Decode(payload, src, dst)
				if err != nil {
					t.Fatal(err)
				}
				enc, err = got.Append(nil, src, dst)
				pkt = payload
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want.Checksum == 0 {
				want.Checksum = got.Checksum
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded %+v\nwant    %+v", got, want)
			}
			if !bytes.Equal(enc, pkt) {
				t.Fatalf("encoded % x\nwant    % x", enc, pkt)
			}
			if got.NoPseudoHeader {
				t.Fatal("keepalived's version 3 IPv4 checksum should include the pseudo-header")
			}
		})
	}
}

// TestGoldenEncode encodes adverts and compares them with files written
// by this package (go test -update rewrites them), then decodes the files.
func TestGoldenEncode(t *testing.T) {
	src4, src6 := netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("fe80::2")
	for _, tc := range []struct {
		file, comment string
		ad            Advert
		src, dst      netip.Addr
	}{
		{"gdirector_v3_ipv4_as_v2.hex", "VRRPv3 over IPv4 with the checksum over the message only\n(keepalived v3_checksum_as_v2, RFC 9568): the IPv4 packet.",
			Advert{Version: 3, VRID: 7, Priority: 254, Interval: 100, Addrs: addrs("192.0.2.50", "192.0.2.51"), NoPseudoHeader: true}, src4, GroupIPv4},
		{"gdirector_v2_noauth.hex", "VRRPv2 without authentication, interval 3 s, priority 255\n(address owner): the IPv4 packet.",
			Advert{Version: 2, VRID: 255, Priority: 255, Interval: 3, Addrs: addrs("192.0.2.60")}, src4, GroupIPv4},
		{"gdirector_v3_ipv6_unicast.hex", "VRRPv3 over IPv6 to a unicast peer fe80::3, interval 0.2 s:\nthe VRRP message only (the pseudo-header uses fe80::2 > fe80::3).",
			Advert{Version: 3, VRID: 9, Priority: 100, Interval: 20, Addrs: addrs("2001:db8::9")}, src6, netip.MustParseAddr("fe80::3")},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var enc []byte
			var err error
			if tc.src.Is4() {
				enc, err = AppendIPv4(nil, &tc.ad, IPv4Header{Src: tc.src, Dst: tc.dst, TTL: 255, ID: 1})
			} else {
				enc, err = tc.ad.Append(nil, tc.src, tc.dst)
			}
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				writeHex(t, tc.file, tc.comment, enc)
			}
			want := readHex(t, tc.file)
			if !bytes.Equal(enc, want) {
				t.Fatalf("encoded % x\nwant    % x", enc, want)
			}
			var got Advert
			if tc.src.Is4() {
				got, _, err = DecodeIPv4(want)
			} else {
				got, err = Decode(want, tc.src, tc.dst)
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.ad.Checksum = got.Checksum
			if !reflect.DeepEqual(got, tc.ad) {
				t.Fatalf("decoded %+v\nwant    %+v", got, tc.ad)
			}
		})
	}
}

// TestChecksumReference checks the version 3 IPv4 checksum against a
// straightforward reference computation over a built pseudo-header.
func TestChecksumReference(t *testing.T) {
	ad := Advert{Version: 3, VRID: 1, Priority: 100, Interval: 100, Addrs: addrs("192.0.2.9")}
	src, dst := netip.MustParseAddr("192.0.2.1"), GroupIPv4
	b, err := ad.Append(nil, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	ph := append(append(src.AsSlice(), dst.AsSlice()...), 0, Protocol, 0, byte(len(b)))
	all := append(ph, b...)
	var s uint32
	for i := 0; i < len(all); i += 2 {
		s += uint32(all[i])<<8 | uint32(all[i+1])
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	if s != 0xffff {
		t.Fatalf("the sum over pseudo-header and message is %#x, want 0xffff", s)
	}
}

func TestDecodeErrors(t *testing.T) {
	src, dst := netip.MustParseAddr("192.0.2.1"), GroupIPv4
	good := readHex(t, "keepalived_v3_ipv4.hex")[20:]
	v2 := readHex(t, "keepalived_v2_pass.hex")[20:]
	mod := func(b []byte, f func([]byte)) []byte { c := append([]byte(nil), b...); f(c); return c }
	for _, tc := range []struct {
		name     string
		b        []byte
		src, dst netip.Addr
		want     error
	}{
		{"empty", nil, src, dst, ErrShort},
		{"header only", good[:8], src, dst, ErrShort},
		{"truncated address", good[:11], src, dst, ErrShort},
		{"trailing byte", append(append([]byte(nil), good...), 0), src, dst, ErrLength},
		{"version 1", mod(good, func(b []byte) { b[0] = 0x11 }), src, dst, ErrVersion},
		{"version 4", mod(good, func(b []byte) { b[0] = 0x41 }), src, dst, ErrVersion},
		{"type 2", mod(good, func(b []byte) { b[0] = 0x32 }), src, dst, ErrType},
		{"bad checksum", mod(good, func(b []byte) { b[7] ^= 1 }), src, dst, ErrChecksum},
		{"changed priority", mod(good, func(b []byte) { b[2] = 1 }), src, dst, ErrChecksum},
		{"other destination", good, src, netip.MustParseAddr("192.0.2.2"), ErrChecksum},
		{"count too high", mod(good, func(b []byte) { b[3] = 2 }), src, dst, ErrShort},
		{"v2 bad checksum", mod(v2, func(b []byte) { b[6] ^= 0x80 }), src, dst, ErrChecksum},
		{"v2 wrong password changes the checksum", mod(v2, func(b []byte) { b[len(b)-1] = 'x' }), src, dst, ErrChecksum},
		{"v2 over IPv6", v2, netip.MustParseAddr("fe80::1"), GroupIPv6, ErrFamily},
		{"mixed families", good, src, GroupIPv6, ErrFamily},
		{"no destination", good, src, netip.Addr{}, ErrFamily},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.b, tc.src, tc.dst)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
	// Authentication type 3 with a correct checksum.
	ad := Advert{Version: 2, VRID: 1, Priority: 1, Interval: 1, AuthType: AuthAH}
	b, _ := ad.Append(nil, src, dst)
	b[4] = 3
	b[6], b[7] = 0, 0
	c := checksum(b, 2, src, dst, false)
	b[6], b[7] = byte(c>>8), byte(c)
	if _, err := Decode(b, src, dst); !errors.Is(err, ErrAuthType) {
		t.Fatalf("auth type 3: %v", err)
	}
}

func TestDecodeIPv4Errors(t *testing.T) {
	good := readHex(t, "keepalived_v2_pass.hex")
	mod := func(f func([]byte)) []byte { c := append([]byte(nil), good...); f(c); return c }
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"short", good[:19], ErrShort},
		{"IPv6 version", mod(func(b []byte) { b[0] = 0x65 }), ErrIPHeader},
		{"IHL 4", mod(func(b []byte) { b[0] = 0x44 }), ErrIPHeader},
		{"total length", mod(func(b []byte) { b[3]-- }), ErrIPHeader},
		{"protocol 51", mod(func(b []byte) { b[9] = 51 }), ErrIPHeader},
		{"fragment", mod(func(b []byte) { b[6] = 0x20 }), ErrIPHeader},
		{"header checksum", mod(func(b []byte) { b[10] ^= 1 }), ErrIPHeader},
		{"payload checksum", mod(func(b []byte) { b[27] ^= 1 }), ErrChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := DecodeIPv4(tc.b); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	s4, s6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("fe80::1")
	many := make([]netip.Addr, 256)
	for i := range many {
		many[i] = s4
	}
	for _, tc := range []struct {
		name     string
		ad       Advert
		src, dst netip.Addr
	}{
		{"version 4", Advert{Version: 4}, s4, GroupIPv4},
		{"v2 interval 256", Advert{Version: 2, Interval: 256}, s4, GroupIPv4},
		{"v3 interval 4096", Advert{Version: 3, Interval: 4096}, s4, GroupIPv4},
		{"v2 over IPv6", Advert{Version: 2, Interval: 1}, s6, GroupIPv6},
		{"mixed address", Advert{Version: 3, Interval: 1, Addrs: addrs("2001:db8::1")}, s4, GroupIPv4},
		{"mixed endpoints", Advert{Version: 3, Interval: 1}, s4, GroupIPv6},
		{"256 addresses", Advert{Version: 3, Interval: 1, Addrs: many}, s4, GroupIPv4},
		{"no source", Advert{Version: 3, Interval: 1}, netip.Addr{}, GroupIPv4},
		{"auth type 3", Advert{Version: 2, Interval: 1, AuthType: 3}, s4, GroupIPv4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.ad.Append([]byte{1, 2}, tc.src, tc.dst)
			if err == nil {
				t.Fatal("no error")
			}
			if !bytes.Equal(b, []byte{1, 2}) {
				t.Fatalf("the buffer changed: % x", b)
			}
		})
	}
}

func TestWireInterval(t *testing.T) {
	for _, tc := range []struct {
		version int
		d       time.Duration
		want    uint16
		ok      bool
	}{
		{2, time.Second, 1, true},
		{2, 255 * time.Second, 255, true},
		{2, 256 * time.Second, 0, false},
		{2, 1500 * time.Millisecond, 0, false},
		{2, 0, 0, false},
		{3, 10 * time.Millisecond, 1, true},
		{3, 100 * time.Millisecond, 10, true},
		{3, MaxInterval3, 4095, true},
		{3, MaxInterval3 + 10*time.Millisecond, 0, false},
		{3, 15 * time.Millisecond, 0, false},
		{3, 0, 0, false},
		{1, time.Second, 0, false},
	} {
		got, err := WireInterval(tc.version, tc.d)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("WireInterval(%d, %v) = %d, %v", tc.version, tc.d, got, err)
		}
	}
}

func TestExpectCheck(t *testing.T) {
	v2 := Advert{Version: 2, VRID: 51, Priority: 100, Interval: 1, AuthType: AuthPass, AuthData: pass("secret"), Addrs: addrs("192.0.2.100", "192.0.2.101")}
	e2 := Expect{Version: 2, VRID: 51, NumAddrs: 2, Interval: 1, AuthType: AuthPass, Password: pass("secret")}
	v3 := Advert{Version: 3, VRID: 52, Priority: 100, Interval: 37, Addrs: addrs("192.0.2.102")}
	e3 := Expect{Version: 3, VRID: 52, NumAddrs: 1, Interval: 100}
	with := func(a Advert, f func(*Advert)) Advert {
		a.Addrs = append([]netip.Addr(nil), a.Addrs...)
		f(&a)
		return a
	}
	withE := func(e Expect, f func(*Expect)) Expect { f(&e); return e }
	for _, tc := range []struct {
		name string
		e    Expect
		a    Advert
		ttl  int
		want error
	}{
		{"v2 ok", e2, v2, 255, nil},
		{"v3 ok with another interval", e3, v3, 255, nil},
		{"ttl 254", e2, v2, 254, ErrTTL},
		{"ttl 64 from a unicast peer", withE(e3, func(e *Expect) { e.Unicast = true }), v3, 64, nil},
		{"hop limit unknown", e3, v3, -1, ErrTTL},
		{"other version", e3, v2, 255, ErrVersion},
		{"other VRID", e2, with(v2, func(a *Advert) { a.VRID = 50 }), 255, ErrOtherVRID},
		{"wrong password", e2, with(v2, func(a *Advert) { a.SetPassword("secreT") }), 255, ErrAuth},
		{"longer password", e2, with(v2, func(a *Advert) { a.SetPassword("secret12") }), 255, ErrAuth},
		{"no auth", e2, with(v2, func(a *Advert) { a.AuthType, a.AuthData = AuthNone, [8]byte{} }), 255, ErrAuth},
		{"auth when none expected", withE(e2, func(e *Expect) { e.AuthType, e.Password = AuthNone, [8]byte{} }), v2, 255, ErrAuth},
		{"v2 interval mismatch", e2, with(v2, func(a *Advert) { a.Interval = 2 }), 255, ErrIntervalV2},
		{"fewer addresses", e2, with(v2, func(a *Advert) { a.Addrs = a.Addrs[:1] }), 255, ErrAddrCount},
		{"more addresses", e3, with(v3, func(a *Advert) { a.Addrs = append(a.Addrs, a.Addrs[0]) }), 255, ErrAddrCount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.e.Check(&tc.a, tc.ttl)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestPassword(t *testing.T) {
	var a Advert
	a.SetPassword("a-very-long-password")
	if a.Password() != "a-very-l" || a.AuthType != AuthPass {
		t.Fatalf("password %q", a.Password())
	}
	a.SetPassword("x")
	if a.Password() != "x" {
		t.Fatalf("password %q", a.Password())
	}
}
