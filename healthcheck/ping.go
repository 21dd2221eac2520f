package healthcheck

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// pingProber is PING_CHECK: one ICMP echo request, passed by the matching
// echo reply. It uses an unprivileged ICMP socket (SOCK_DGRAM, allowed by
// net.ipv4.ping_group_range) and falls back to a raw socket, which needs
// CAP_NET_RAW.
type pingProber struct {
	target netip.Addr
	bind   netip.Addr
	id     int
	seq    atomic.Uint32
}

func newPingProber(s spec) *pingProber {
	var b [2]byte
	rand.Read(b[:])
	return &pingProber{target: s.target.Addr(), bind: s.check.BindTo, id: int(b[0])<<8 | int(b[1])}
}

// listenPing opens an ICMP socket for the family of target: a ping socket
// if the host allows it, else a raw one. raw tells which.
func listenPing(target, bind netip.Addr) (conn *icmp.PacketConn, raw bool, err error) {
	dgram, rawNet, src := "udp4", "ip4:icmp", "0.0.0.0"
	if target.Is6() {
		dgram, rawNet, src = "udp6", "ip6:ipv6-icmp", "::"
	}
	if bind.IsValid() {
		src = bind.Unmap().String()
	}
	conn, err = icmp.ListenPacket(dgram, src)
	if err == nil {
		return conn, false, nil
	}
	conn, rerr := icmp.ListenPacket(rawNet, src)
	if rerr != nil {
		return nil, false, fmt.Errorf("no ICMP socket: ping socket: %v; raw socket: %v", err, rerr)
	}
	return conn, true, nil
}

func (p *pingProber) probe(ctx context.Context) Result {
	conn, raw, err := listenPing(p.target, p.bind)
	if err != nil {
		return Result{Err: err}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var token [16]byte
	rand.Read(token[:])
	seq := int(p.seq.Add(1) & 0xffff)
	var typ, replyType icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	proto := 1
	if p.target.Is6() {
		typ, replyType, proto = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, 58
	}
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: p.id, Seq: seq, Data: token[:]}}
	b, err := msg.Marshal(nil) // the kernel sums ICMPv6
	if err != nil {
		return Result{Err: err}
	}
	var dst net.Addr = &net.UDPAddr{IP: p.target.AsSlice()}
	if raw {
		dst = &net.IPAddr{IP: p.target.AsSlice()}
	}
	if _, err := conn.WriteTo(b, dst); err != nil {
		return Result{Err: ctxErr(ctx, err)}
	}
	buf := make([]byte, 1500)
	for {
		n, peer, err := conn.ReadFrom(buf)
		if err != nil {
			if isTimeout(err) {
				if errors.Is(ctx.Err(), context.Canceled) {
					return Result{Err: ctx.Err()}
				}
				return Result{Err: errors.New("no echo reply")}
			}
			return Result{Err: ctxErr(ctx, err)}
		}
		if peerAddr(peer) != p.target {
			continue
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != replyType {
			continue
		}
		echo, ok := m.Body.(*icmp.Echo)
		// A ping socket's replies carry the id the kernel chose.
		if !ok || echo.Seq != seq || (raw && echo.ID != p.id) || !bytes.Equal(echo.Data, token[:]) {
			continue
		}
		return Result{}
	}
}

func peerAddr(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.IPAddr:
		ip = a.IP
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.Unmap()
}
