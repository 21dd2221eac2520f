package tun

import (
	"encoding/binary"
	"testing"
)

func TestPseudoMAC(t *testing.T) {
	seen := map[[6]byte]string{}
	for _, name := range []string{"", "tun0", "tun1", "gdtun0", "gdtun1", "x", "director-vip0"} {
		m := PseudoMAC(name)
		if m != PseudoMAC(name) {
			t.Fatalf("PseudoMAC(%q) not stable", name)
		}
		if m[0]&0x02 == 0 || m[0]&0x01 != 0 {
			t.Errorf("PseudoMAC(%q) = %x: not locally administered unicast", name, m)
		}
		if m == PeerHardwareAddr() {
			t.Errorf("PseudoMAC(%q) equals the peer address", name)
		}
		if prev, dup := seen[m]; dup {
			t.Errorf("PseudoMAC(%q) = PseudoMAC(%q) = %x", name, prev, m)
		}
		seen[m] = name
	}
	p := PeerHardwareAddr()
	if p[0]&0x02 == 0 || p[0]&0x01 != 0 {
		t.Errorf("peer address %x not locally administered unicast", p)
	}
}

func TestEthHeader(t *testing.T) {
	for _, c := range []struct {
		pkt  []byte
		want uint16
	}{
		{[]byte{0x45, 0}, EtherTypeIPv4},
		{[]byte{0x60, 0}, EtherTypeIPv6},
		{[]byte{0x00}, 0},
		{[]byte{0x50}, 0},
		{nil, 0},
	} {
		if got := etherType(c.pkt); got != c.want {
			t.Errorf("etherType(%x) = %#x, want %#x", c.pkt, got, c.want)
		}
	}
	f := make([]byte, EthHeaderLen)
	dst := PseudoMAC("tun0")
	putEthHeader(f, dst, EtherTypeIPv6)
	if [6]byte(f[0:6]) != dst || [6]byte(f[6:12]) != PeerHardwareAddr() || binary.BigEndian.Uint16(f[12:]) != EtherTypeIPv6 {
		t.Errorf("header %x", f)
	}
}
