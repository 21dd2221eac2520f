package datapath

import (
	"bytes"
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/internal/pkt"
	"github.com/gdirector/gdirector/link"
	"github.com/gdirector/gdirector/link/linktest"
	"github.com/gdirector/gdirector/vs"
)

// readFrames reads from d until match accepts a frame or the deadline.
func readFrame(t *testing.T, d *linktest.Device, deadline time.Time, match func([]byte, *header.Parsed) bool) []byte {
	t.Helper()
	bufs := [][]byte{make([]byte, link.Headroom+link.MaxFrame)}
	sizes := []int{0}
	for time.Now().Before(deadline) {
		n, err := d.Read(bufs, sizes, link.Headroom)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			continue
		}
		f := append([]byte(nil), bufs[0][link.Headroom:link.Headroom+sizes[0]]...)
		var p header.Parsed
		if header.Decode(f, &p) == header.OK && match(f, &p) {
			return f
		}
	}
	t.Fatal("expected frame did not arrive")
	return nil
}

// fakeReals plays the real-server segment: answers ARP for the RIPs and
// echoes UDP datagrams, prefixed with the server's name, back to the sender.
func fakeReals(ctx context.Context, d *linktest.Device, macs map[netip.Addr][6]byte, names map[netip.Addr]string, seen *atomic.Int64) {
	bufs := [][]byte{make([]byte, link.Headroom+link.MaxFrame)}
	sizes := []int{0}
	for ctx.Err() == nil {
		n, err := d.Read(bufs, sizes, link.Headroom)
		if err != nil || n == 0 {
			continue
		}
		f := bufs[0][link.Headroom : link.Headroom+sizes[0]]
		var p header.Parsed
		if header.Decode(f, &p) != header.OK {
			continue
		}
		if p.EtherType == header.EtherTypeARP {
			a := header.ARP(f[p.L3:])
			tip := netip.AddrFrom4(a.TargetIP())
			if mac, ok := macs[tip]; ok && a.Op() == header.ARPRequest {
				rep := make([]byte, link.Headroom+60)
				header.PutARP(rep[link.Headroom:], a.SenderMAC(), mac, header.ARPReply, mac, tip.As4(), a.SenderMAC(), a.SenderIP())
				d.Write([][]byte{rep}, link.Headroom)
			}
			continue
		}
		dst := header.AddrFrom16(p.Dst)
		if p.Proto != header.ProtoUDP || names[dst] == "" {
			continue
		}
		seen.Add(1)
		reply := pkt.Build(pkt.Spec{
			SrcMAC: macs[dst], DstMAC: header.Ethernet(f).Src(),
			Src: dst, Dst: header.AddrFrom16(p.Src), Proto: header.ProtoUDP,
			SPort: p.DPort, DPort: p.SPort,
			Payload: append([]byte(names[dst]+":"), f[p.Payload:p.End]...),
		})
		d.Write([][]byte{append(make([]byte, link.Headroom), reply...)}, link.Headroom)
	}
}

// TestRunOverLinks runs the whole director (workers, resolver, expiry) on
// in-memory links: the client's ARP for the VIP is answered, real-server
// MACs are learned by ARP, and UDP queries alternate between two servers
// and come back from the VIP.
func TestRunOverLinks(t *testing.T) {
	dirC, client := linktest.NewPair("eth0", "client", macDirC, macClient)
	dirR, rsnet := linktest.NewPair("eth1", "rsnet", macDirR, pkt.MAC(0x99))
	var tbl atomic.Pointer[vs.Table]
	rrService(t, &tbl, vs.UDP, vip, 53, vs.NewDest(rip1, 53, vs.Masq, 1), vs.NewDest(rip2, 53, vs.Masq, 1))
	router := &staticRouter{routes: map[netip.Prefix]Route{
		netip.MustParsePrefix("198.51.100.0/24"): {IfIndex: dirC.Index(), Src: dip1},
		netip.MustParsePrefix("203.0.113.0/24"):  {IfIndex: dirR.Index(), Src: dip2},
	}}
	d, err := New(Config{Devices: []link.Device{dirC, dirR}, Table: &tbl,
		Conns: conntrack.NewTable(conntrack.Options{}), Clock: clock.Real{}, Router: router})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var seen atomic.Int64
	wg.Add(2)
	go func() { defer wg.Done(); d.Run(ctx) }()
	go func() {
		defer wg.Done()
		fakeReals(ctx, rsnet, map[netip.Addr][6]byte{rip1: macRS1, rip2: macRS2}, map[netip.Addr]string{rip1: "rs1", rip2: "rs2"}, &seen)
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })

	deadline := time.Now().Add(5 * time.Second)
	req := make([]byte, link.Headroom+60)
	header.PutARP(req[link.Headroom:], broadcast, macClient, header.ARPRequest, macClient, cip.As4(), [6]byte{}, vip.As4())
	client.Write([][]byte{req}, link.Headroom)
	readFrame(t, client, deadline, func(f []byte, p *header.Parsed) bool {
		a := header.ARP(f[p.L3:])
		return p.EtherType == header.EtherTypeARP && a.Op() == header.ARPReply && a.SenderMAC() == macDirC && a.SenderIP() == vip.As4()
	})

	for i := 0; i < 4; i++ {
		q := pkt.Build(pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip, Dst: vip, Proto: header.ProtoUDP,
			SPort: uint16(5000 + i), DPort: 53, Payload: []byte("q")})
		client.Write([][]byte{append(make([]byte, link.Headroom), q...)}, link.Headroom)
		f := readFrame(t, client, deadline, func(f []byte, p *header.Parsed) bool {
			return p.Proto == header.ProtoUDP && p.DPort == uint16(5000+i)
		})
		var p header.Parsed
		header.Decode(f, &p)
		want := []string{"rs1:q", "rs2:q"}[i%2]
		if header.AddrFrom16(p.Src) != vip || p.SPort != 53 || !bytes.Equal(f[p.Payload:p.End], []byte(want)) {
			t.Fatalf("reply %d from %v:%d payload %q, want %s:53 %q", i, header.AddrFrom16(p.Src), p.SPort, f[p.Payload:p.End], vip, want)
		}
		if header.Ethernet(f).Dst() != macClient || header.Ethernet(f).Src() != macDirC || !header.L4ChecksumOK(f, &p) {
			t.Fatalf("reply %d: bad L2 or checksum: %x", i, f)
		}
	}
	c := d.Counters()
	if c.In != 4 || c.Out != 4 || c.NewConns != 4 || c.ARPReplies != 1 {
		t.Fatalf("counters %+v", c)
	}
	if seen.Load() != 4 {
		t.Fatalf("real servers saw %d queries", seen.Load())
	}
}
