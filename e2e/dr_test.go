package e2e

import (
	"net"
	"testing"

	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/nsutil"
)

func macOf(t *testing.T, ns, ifname string) net.HardwareAddr {
	t.Helper()
	var mac net.HardwareAddr
	err := nsutil.Do(ns, func() error {
		ifc, err := net.InterfaceByName(ifname)
		if err == nil {
			mac = ifc.HardwareAddr
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

// TestDRTCP: with direct routing, requests alternate between the real
// servers; each real server receives exactly the IP packet the client sent
// (only the Ethernet header differs: director → real server), and the
// replies reach the client from the real servers' MACs, never through the
// director (checkDR).
func TestDRTCP(t *testing.T) {
	e := newEnvMode(t, "dr")
	e.checkDR(t, family4(e), workload{http: 4})
	e.stopDirector(t)
}

// maskL4Checksum returns a copy of an IPv4 or IPv6 (no extension headers)
// TCP or UDP packet with the transport checksum zeroed. A capture on the
// client shows the partial checksum its TX offload leaves for the NIC; the
// director completes it (as the NIC would) before forwarding, so that
// field legitimately differs.
func maskL4Checksum(ip []byte) []byte {
	b := append([]byte(nil), ip...)
	var off int
	var proto byte
	switch {
	case len(b) >= 40 && b[0]>>4 == 6:
		off, proto = 40, b[6]
	case len(b) >= 20:
		off, proto = int(b[0]&0x0f)*4, b[9]
	default:
		return b
	}
	switch proto {
	case header.ProtoTCP:
		off += 16
	case header.ProtoUDP:
		off += 6
	default:
		return b
	}
	if len(b) >= off+2 {
		b[off], b[off+1] = 0, 0
	}
	return b
}

// TestDRUDP: DNS-like queries through the VIP with direct routing; the
// answers come from the VIP, sent by the real servers themselves.
func TestDRUDP(t *testing.T) {
	e := newEnvMode(t, "dr")
	f, tr := family4(e), workload{udp: 4}
	e.services(t, f, "-g", tr)
	e.exchange(t, f, tr)
	e.stopDirector(t)
}
