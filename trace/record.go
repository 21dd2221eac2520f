package trace

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/vs"
)

// Record is an Event made readable: what gdirector trace prints (Text),
// or sends as one JSON object per event (--json), and what other tools
// (the lab's narration, the status page) consume. It is built off the
// data plane and allocates freely.
type Record struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Worker int       `json:"worker"`
	In     string    `json:"in"`
	Out    string    `json:"out,omitempty"`
	// Direction is "in" (client → real server) or "out" (a reply).
	Direction string `json:"direction"`
	// Method is NAT, DR, TUN or FullNAT (the connection's); empty for a
	// packet dropped before it had a connection.
	Method string `json:"method,omitempty"`
	Proto  string `json:"proto,omitempty"`
	ICMP   bool   `json:"icmp_error,omitempty"`
	// Verdict is "forwarded", "dropped" or "parked" (waiting for
	// neighbour resolution); Reason names the drop (forward.Reason).
	Verdict  string          `json:"verdict"`
	Reason   string          `json:"reason,omitempty"`
	Conn     *ConnRecord     `json:"conn,omitempty"`
	Template *TemplateRecord `json:"template,omitempty"`
	Sched    *SchedRecord    `json:"sched,omitempty"`
	Before   *Headers        `json:"before,omitempty"`
	After    *Headers        `json:"after,omitempty"`
	// Changes are the header fields the director changed, in order.
	Changes []Change `json:"changes,omitempty"`
	// The frames as received and as sent (the first SnapLen bytes of
	// each) and their full lengths.
	BeforeFrame []byte `json:"before_frame,omitempty"`
	BeforeLen   int    `json:"before_len,omitempty"`
	AfterFrame  []byte `json:"after_frame,omitempty"`
	AfterLen    int    `json:"after_len,omitempty"`
}

// ConnRecord is the connection of a packet.
type ConnRecord struct {
	// Decision is "hit" (a known connection) or "new".
	Decision string `json:"decision"`
	// Service names the connection's virtual service as ipvsadm -L -n
	// heads it ("TCP 192.0.2.10:80", "FWM 7"); empty if unknown.
	Service     string `json:"service,omitempty"`
	Client      string `json:"client"`
	VIP         string `json:"vip"`
	RealServer  string `json:"real_server"`
	Local       string `json:"local,omitempty"` // FullNAT's local address:port
	StateBefore string `json:"state_before"`
	State       string `json:"state"`
	// ExpiresIn is the time left after the packet, as ipvsadm -Lnc's
	// expire column counts it.
	ExpiresIn string `json:"expires_in"`
}

// TemplateRecord is the persistence template of a new connection.
type TemplateRecord struct {
	Decision   string `json:"decision"` // "hit" or "new"
	Client     string `json:"client"`   // the client's network (-M)
	VIP        string `json:"vip"`      // VIP:port, or the firewall mark
	RealServer string `json:"real_server"`
	ExpiresIn  string `json:"expires_in"`
}

// SchedRecord is the scheduler's decision for a new connection.
type SchedRecord struct {
	Name   string       `json:"name"`
	Dests  []DestRecord `json:"dests"`
	Chosen string       `json:"chosen,omitempty"` // empty: none (no_dest)
	// Explain is the decision in the kernel's terms, one line.
	Explain string `json:"explain"`
}

// DestRecord is what the scheduler saw of one dest.
type DestRecord struct {
	Addr       string `json:"addr"`
	Weight     int32  `json:"weight"`
	Active     int32  `json:"active"`
	Inact      int32  `json:"inactive"`
	Overhead   int64  `json:"overhead"`
	Overloaded bool   `json:"overloaded,omitempty"`
}

// Change is one header the director changed: Before and After render
// it; an empty Before is a header added, and Before == After a header
// shown untouched (DR's and TUN's IP packet).
type Change struct {
	Header string `json:"header"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// MethodName names a forwarding method in gdirector trace's terms.
func MethodName(m vs.FwdMethod) string {
	switch m {
	case vs.Masq:
		return "NAT"
	case vs.DirectRoute:
		return "DR"
	case vs.Tunnel:
		return "TUN"
	case vs.FullNAT:
		return "FullNAT"
	case vs.Local:
		return "Local"
	}
	return "unknown"
}

// ServiceName names the service of key k as ipvsadm -L -n heads it:
// "TCP 192.0.2.10:80", "UDP [2001:db8::10]:53", "FWM 7", "FWM 7 IPv6".
func ServiceName(k vs.ServiceKey) string {
	if k.FwMark != 0 {
		n := fmt.Sprintf("FWM %d", k.FwMark)
		if k.IPv6 {
			n += " IPv6"
		}
		return n
	}
	return k.Proto.String() + " " + addrPort(k.Addr, k.Port)
}

func addrPort(a [16]byte, port uint16) string {
	return netip.AddrPortFrom(vs.AddrFrom16(a), port).String()
}

func stateName(proto vs.Proto, s conntrack.State) string {
	switch proto {
	case vs.TCP:
		return s.String()
	case vs.UDP:
		return "UDP"
	}
	return s.String()
}

// NewRecord makes the record of ev; devs names the interfaces (the
// tracer's Devices) and at is the event's wall-clock time.
func NewRecord(ev *Event, devs []string, at time.Time) *Record {
	dev := func(i int) string {
		if i >= 0 && i < len(devs) {
			return devs[i]
		}
		if i < 0 {
			return ""
		}
		return fmt.Sprintf("if%d", i)
	}
	r := &Record{Seq: ev.Seq, Time: at, Worker: ev.Lane, In: dev(ev.In), Out: dev(ev.Out), ICMP: ev.ICMP}
	r.Direction = "in"
	if ev.Dir == forward.Out {
		r.Direction = "out"
	}
	switch {
	case ev.Parked:
		r.Verdict = "parked"
	case ev.Reason != forward.Pass:
		r.Verdict, r.Reason = "dropped", ev.Reason.String()
	default:
		r.Verdict = "forwarded"
	}
	if ev.Tuple.Proto != 0 {
		r.Proto = ev.Tuple.Proto.String()
	}
	if c := &ev.Conn; c.Decision != ConnNone {
		r.Method = MethodName(c.Fwd)
		r.Proto = c.Proto.String()
		cr := &ConnRecord{Decision: "hit", Client: addrPort(c.CAddr, c.CPort), VIP: addrPort(c.VAddr, c.VPort),
			RealServer: addrPort(c.DAddr, c.DPort), StateBefore: stateName(c.Proto, c.Before), State: stateName(c.Proto, c.After),
			ExpiresIn: time.Duration(max(c.Expires, 0)).Round(time.Millisecond).String()}
		if c.Decision == ConnNew {
			cr.Decision, cr.StateBefore = "new", ""
		}
		if c.Svc != (vs.ServiceKey{}) {
			cr.Service = ServiceName(c.Svc)
		}
		if c.Fwd == vs.FullNAT {
			cr.Local = addrPort(c.LAddr, c.LPort)
		}
		r.Conn = cr
	}
	if t := &ev.Template; t.Decision != TemplateNone {
		tr := &TemplateRecord{Decision: "hit", Client: vs.AddrFrom16(t.CAddr).String(), VIP: addrPort(t.VAddr, t.VPort),
			RealServer: addrPort(t.DAddr, t.DPort), ExpiresIn: time.Duration(max(t.Expires, 0)).Round(time.Millisecond).String()}
		if t.Decision == TemplateNew {
			tr.Decision = "new"
		}
		r.Template = tr
	}
	if ev.Sched.Valid {
		r.Sched = ev.Sched.record()
	}
	r.BeforeFrame, r.BeforeLen = bytes.Clone(ev.Before.Bytes()), ev.Before.Len
	r.Before = ParseFrame(r.BeforeFrame)
	if ev.After.N > 0 {
		r.AfterFrame, r.AfterLen = bytes.Clone(ev.After.Bytes()), ev.After.Len
		r.After = ParseFrame(r.AfterFrame)
		r.Changes = changes(r.Before, r.After)
	}
	return r
}

// changes lists what differs between the frame received and the one sent.
func changes(b, a *Headers) []Change {
	if b == nil || a == nil {
		return nil
	}
	var cs []Change
	if b.SrcMAC != a.SrcMAC || b.DstMAC != a.DstMAC {
		cs = append(cs, Change{"eth", b.macs(), a.macs()})
	}
	if a.Inner != nil && b.Inner == nil {
		// Tunnelled: an outer header was added in front of the packet.
		family := "IPv4"
		if a.IPv6 {
			family = "IPv6"
		}
		cs = append(cs, Change{"outer", "", fmt.Sprintf("%s %s > %s %s, ttl %d", family, a.Src, a.Dst, protoName(a.Proto), a.TTL)})
		inner := "untouched"
		if a.Inner.ip == nil || b.ip == nil || !bytes.Equal(a.Inner.ip, b.ip[:min(len(b.ip), len(a.Inner.ip))]) {
			inner = a.Inner.endpoints()
		}
		cs = append(cs, Change{"inner", b.endpoints(), inner})
		return cs
	}
	if be, ae := b.endpoints(), a.endpoints(); be != ae {
		cs = append(cs, Change{"ip", be, ae})
	} else {
		cs = append(cs, Change{"ip", be, be})
	}
	if b.TTL != a.TTL {
		cs = append(cs, Change{"ttl", fmt.Sprint(b.TTL), fmt.Sprint(a.TTL)})
	}
	if a.TOA != nil && b.TOA == nil {
		n := toaLen4
		if a.TOA.Addr.Is6() {
			n = toaLen16
		}
		cs = append(cs, Change{"toa", "", fmt.Sprintf("%s (TCP option %d, %d bytes)", netip.AddrPortFrom(a.TOA.Addr, a.TOA.Port), toaKind, n)})
	}
	return cs
}

// Text renders the record as gdirector trace prints it: a title line and
// indented lines for the connection, the persistence template, the
// scheduler's decision, the drop and each changed header.
func (r *Record) Text() string {
	var b strings.Builder
	dir := "client -> real server"
	if r.Direction == "out" {
		dir = "reply -> client"
	}
	if r.ICMP {
		dir += " (ICMP error)"
	}
	ifs := r.In
	if r.Out != "" {
		ifs += " -> " + r.Out
	}
	fmt.Fprintf(&b, "#%d %s worker %d %s  %s", r.Seq, r.Time.UTC().Format("15:04:05.000000"), r.Worker, ifs, dir)
	if r.Method != "" {
		fmt.Fprintf(&b, "  %s", r.Method)
	}
	if r.Proto != "" {
		fmt.Fprintf(&b, "  %s", r.Proto)
	}
	if r.Before != nil && r.Before.Proto == 6 {
		fmt.Fprintf(&b, " %s", tcpFlags(r.Before.TCPFlags))
	}
	fmt.Fprintf(&b, "  %s\n", r.Verdict)
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "  %-8s%s\n", label, fmt.Sprintf(format, args...))
	}
	if t := r.Template; t != nil {
		line("persist", "template %s: %s -> %s -> %s, expires in %s", t.Decision, t.Client, t.VIP, t.RealServer, t.ExpiresIn)
	}
	if c := r.Conn; c != nil {
		state := c.State
		if c.Decision == "hit" && c.StateBefore != c.State {
			state = c.StateBefore + " -> " + c.State
		}
		tuple := fmt.Sprintf("%s -> %s -> %s", c.Client, c.VIP, c.RealServer)
		if c.Local != "" {
			tuple = fmt.Sprintf("%s -> %s, %s -> %s", c.Client, c.VIP, c.Local, c.RealServer)
		}
		line("conn", "%s %s, expires in %s: %s", c.Decision, state, c.ExpiresIn, tuple)
	}
	if s := r.Sched; s != nil {
		line("sched", "%s", s.Explain)
	}
	if r.Verdict == "dropped" {
		line("drop", "%s", r.Reason)
	}
	if r.Verdict == "parked" {
		line("parked", "waiting for the next hop's link-layer address")
	}
	for _, c := range r.Changes {
		switch {
		case c.Before == "":
			line(c.Header, "+ %s", c.After)
		case c.After == "untouched" || c.Before == c.After:
			line(c.Header, "%s  untouched", c.Before)
		default:
			line(c.Header, "%s  =>  %s", c.Before, c.After)
		}
	}
	return b.String()
}
