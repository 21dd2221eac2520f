package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gdirector/gdirector/trace"
	"github.com/gdirector/gdirector/trace/traceclient"
)

// Timing of Observe: the most it waits for the daemon to acknowledge the
// trace subscription (it answers at once: the bound is for a daemon that
// never does), how long the trace must stay quiet after the connection
// closed, and the most it waits for that.
const (
	traceAckMax = 3 * time.Second
	traceQuiet  = 300 * time.Millisecond
	traceMax    = 3 * time.Second
)

// MACs names every interface of the lab by its MAC address ("director
// eth1", "rs2 eth0"), skipping lo and bridge ports (a bridge carries the
// MAC of one of its ports and is named instead).
func (t *Topology) MACs() (map[string]string, error) {
	out := map[string]string{}
	for _, ns := range t.Namespaces() {
		role := strings.TrimPrefix(ns, t.Prefix()+"-")
		switch role {
		case "dir":
			role = "director"
		case "rtr":
			role = "router"
		case "sw":
			role = "switch"
		}
		err := withHandle(ns, func(h *netlink.Handle) error {
			links, err := h.LinkList()
			if err != nil {
				return err
			}
			for _, l := range links {
				a := l.Attrs()
				if a.MasterIndex != 0 || len(a.HardwareAddr) != 6 || a.Name == "lo" {
					continue
				}
				out[a.HardwareAddr.String()] = role + " " + a.Name
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("lab: links of %s: %w", ns, err)
		}
	}
	return out, nil
}

// neighKnown reports whether the client's neighbour table holds a usable
// entry for a.
func (t *Topology) neighKnown(a netip.Addr) (bool, error) {
	known := false
	err := withHandle(t.ClientNS, func(h *netlink.Handle) error {
		fam := netlink.FAMILY_V4
		if a.Is6() {
			fam = netlink.FAMILY_V6
		}
		ns, err := h.NeighList(0, fam)
		if err != nil {
			return err
		}
		for _, n := range ns {
			ip, ok := netip.AddrFromSlice(n.IP)
			if ok && ip.Unmap() == a && len(n.HardwareAddr) == 6 &&
				n.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) == 0 {
				known = true
			}
		}
		return nil
	})
	return known, err
}

// nextHop is the address the client resolves to reach vip: the VIP
// itself (the VIP network is on-link) or its gateway (TUN lab).
func (t *Topology) nextHop(vip netip.Addr) netip.Addr {
	if t.Mode != "tun" {
		return vip
	}
	if vip.Is6() {
		return tunRouterC6
	}
	return tunRouterC
}

// Observe makes one HTTP request from the client to vip:80 while
// following the director's trace (control socket sock) for the client,
// and returns what it saw: the trace records of that request's
// connection, the client's neighbour state before it, the real server's
// answer and the lab's MACs. The service must exist. The records are
// those of the request's client port, collected until the trace has
// stayed quiet for a moment after the connection closed.
func (t *Topology) Observe(ctx context.Context, sock string, vip netip.Addr) (*Observation, error) {
	cip := t.CIP
	if vip.Is6() {
		cip = t.CIP6
	}
	o := &Observation{VIP: netip.AddrPortFrom(vip, HTTPPort), NextHop: t.nextHop(vip)}
	var err error
	if o.MACs, err = t.MACs(); err != nil {
		return nil, err
	}
	if o.NeighKnown, err = t.neighKnown(o.NextHop); err != nil {
		return nil, fmt.Errorf("lab: neighbours of the client: %w", err)
	}

	var (
		mu   sync.Mutex
		recs []*trace.Record
		last = time.Now()
		lost uint64
	)
	tctx, stop := context.WithCancel(ctx)
	defer stop()
	opt := trace.Options{Filter: trace.Filter{Client: netip.PrefixFrom(cip, cip.BitLen()), VIP: vip, Port: HTTPPort}}
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		resp, err := traceclient.Follow(tctx, sock, opt, func(r *trace.Record) error {
			mu.Lock()
			recs = append(recs, r)
			last = time.Now()
			mu.Unlock()
			return nil
		}, func(n uint64) {
			mu.Lock()
			lost = n
			mu.Unlock()
		}, traceclient.OnReady(func() { close(ready) }))
		if err == nil && resp.Code != 0 {
			err = fmt.Errorf("gdirector trace: exit %d: %s", resp.Code, strings.TrimSpace(resp.Stderr))
		}
		done <- err
	}()
	// The daemon acknowledges the subscription once its data plane
	// traces: every packet of the request, sent after, is seen.
	select {
	case err := <-done:
		if err == nil {
			err = errors.New("the daemon ended the stream at once")
		}
		return nil, fmt.Errorf("lab: trace: %w", err)
	case <-ready:
	case <-time.After(traceAckMax):
		return nil, fmt.Errorf("lab: trace: the daemon at %s did not acknowledge the subscription within %v (a gdirector older than this one?)", sock, traceAckMax)
	}

	local, err := t.request(ctx, o)
	if err != nil {
		return nil, err
	}
	o.Client = netip.AddrPortFrom(cip, local.Port())
	deadline := time.Now().Add(traceMax)
	for {
		mu.Lock()
		quiet := time.Since(last) >= traceQuiet
		mu.Unlock()
		if quiet || time.Now().After(deadline) {
			break
		}
		select {
		case err := <-done:
			return nil, fmt.Errorf("lab: trace ended early: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	stop()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("lab: trace: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	o.Lost = lost
	want := o.Client.String()
	for _, r := range recs {
		if r.Conn != nil && r.Conn.Client == want {
			o.Records = append(o.Records, r)
		}
	}
	return o, nil
}

// request sends GET / with "Connection: close" to o.VIP from the client
// namespace on a connection of its own, fills o.Server and o.Peer from
// the answer and returns the client's socket address.
func (t *Topology) request(ctx context.Context, o *Observation) (netip.AddrPort, error) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := nsutil.DialContext(rctx, t.ClientNS, "tcp", o.VIP.String())
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("lab: connect to %s: %w", o.VIP, err)
	}
	defer c.Close()
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	c.SetDeadline(time.Now().Add(5 * time.Second))
	host := o.VIP.String()
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host); err != nil {
		return local, fmt.Errorf("lab: request to %s: %w", o.VIP, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return local, fmt.Errorf("lab: answer from %s: %w", o.VIP, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return local, fmt.Errorf("lab: answer from %s: %s", o.VIP, resp.Status)
	}
	o.Server, o.Peer = resp.Header.Get("X-Real-Server"), resp.Header.Get("X-Client-Addr")
	// Wait for the server's FIN, so the trace holds the whole connection.
	io.Copy(io.Discard, c)
	return local, nil
}

// ExplainRequest observes one request to vip (Observe) and narrates it
// (Narrate). Observe starts the request only once the daemon has
// acknowledged the trace, so the trace cannot start too late; the
// connection's first packet can still be missing if the daemon lost
// events (a queue fell behind, counted in Observation.Lost), and then
// it tries once more. A first packet missing with nothing lost is an
// error, not retried: a retry would hide it.
func (t *Topology) ExplainRequest(ctx context.Context, sock string, vip netip.Addr) (string, *Observation, error) {
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var o *Observation
		if o, err = t.Observe(ctx, sock, vip); err != nil {
			return "", nil, err
		}
		var text string
		text, err = t.Narrate(o)
		if err == nil {
			return text, o, nil
		}
		if !errors.Is(err, ErrNoFirstPacket) || o.Lost == 0 {
			break
		}
	}
	return "", nil, err
}
