package e2e

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// toaAddr returns the client address and port of the TOA option (kind
// 254, DPVS's layout: port, then the IPv4 or IPv6 address) of a TCP
// packet.
func toaAddr(p gopacket.Packet) (netip.AddrPort, bool) {
	tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !ok {
		return netip.AddrPort{}, false
	}
	for _, o := range tcp.Options {
		if o.OptionType != 254 || (len(o.OptionData) != 6 && len(o.OptionData) != 18) {
			continue
		}
		a, _ := netip.AddrFromSlice(o.OptionData[2:])
		return netip.AddrPortFrom(a, uint16(o.OptionData[0])<<8|uint16(o.OptionData[1])), true
	}
	return netip.AddrPort{}, false
}

// TestFullNAT: the real servers have no route to the client at all; with
// FullNAT they only ever see the director's local address, the client only
// ever sees the VIP, and requests alternate between them; the handshake's
// ACK tells rs1 the client's address in a TOA option (checkFullNAT). TCP
// and UDP.
func TestFullNAT(t *testing.T) {
	e := newEnvMode(t, "fullnat")
	e.checkFullNAT(t, family4(e), workload{http: 4, udp: 2})
	e.stopDirector(t)
}
