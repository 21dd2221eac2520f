package datapath

import (
	"context"
	"encoding/binary"
	"errors"
	"sync/atomic"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/forward/dr"
	"github.com/gdirector/gdirector/forward/fullnat"
	"github.com/gdirector/gdirector/forward/nat"
	"github.com/gdirector/gdirector/forward/tun"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/link"
	"github.com/gdirector/gdirector/vs"
)

// Worker forwards what one device of a lane reads (see lane). Its state
// is its own (its buffers are shared with the other Workers of its lane,
// which run on the same goroutine); only counters are read by others
// (atomically).
type Worker struct {
	d     *Director
	dev   int           // the interface it reads (index into Director.devs)
	devs  []link.Device // its lane's device per interface: read devs[dev], write any
	bufs  [][]byte
	sizes []int
	tx    [][][]byte // per egress device, frames to write this batch
	macs  [][6]byte  // per device, its MAC
	mtus  []int      // per device, its MTU

	// Super-frames (GSO/GRO, see header.SuperPayload): offl are the
	// Offloads of the frames just read (nil if the device has none),
	// cur the Offload of the frame process returns (the one read, or none
	// for an answer built apart, such as an ICMP error); txOff parallels tx; offOK tells which
	// devices take super-frames whole (link.OffloadDevice, offloading);
	// segBufs are scratch frames for the segments of a super-frame that
	// must be cut here (tunnelled, or toward a device that cannot take it).
	offl    []link.Offload
	cur     link.Offload
	txOff   [][]link.Offload
	offOK   []bool
	segBufs [][]byte
	segN    int
	seg     header.Parsed
	tn      tunnelTo

	// Per-batch state.
	now int64
	tbl *vs.Table
	nh  *nhTable

	ipID uint16 // IP ID of the outer headers this worker builds

	inner forward.Inner // the quoted packet of an ICMP error

	// inUse tells the FullNAT port pool whether a reply tuple is taken;
	// built once so that allocation does not allocate.
	inUse func(conntrack.Key) bool

	// Scratch frames for ICMP errors, reused every batch.
	icmpBufs [][]byte
	icmpN    int

	// Scratch reused for every packet.
	p    header.Parsed
	key  conntrack.Key
	flow vs.Flow
	c    counters

	t tracing // gdirector trace (trace.go)
}

// laddrRetries bounds how many more local ports a new FullNAT connection
// tries after losing its first to a concurrent worker.
const laddrRetries = 3

// newWorker makes the Worker of lane number lane that reads devs[dev];
// with share, it uses the buffers of share (a Worker of the same lane
// served by the same goroutine) instead of its own.
func newWorker(d *Director, lane, dev int, devs []link.Device, share *Worker) *Worker {
	w := &Worker{d: d, dev: dev, devs: devs}
	w.t.lane = lane
	// Spread the IP IDs of the outer headers that different lanes build
	// toward the same real server.
	w.ipID = uint16(lane * 0x9e37)
	w.inUse = func(k conntrack.Key) bool { return d.conns.LookupOut(&k) != nil }
	if share != nil {
		w.bufs, w.sizes, w.tx, w.icmpBufs = share.bufs, share.sizes, share.tx, share.icmpBufs
		w.txOff, w.segBufs = share.txOff, share.segBufs
	} else {
		n := 0
		for _, dv := range devs {
			n = max(n, dv.BatchSize())
		}
		if n <= 0 {
			n = 64
		}
		frameMax := link.MaxFrame
		for _, dv := range devs {
			if od, ok := dv.(link.OffloadDevice); ok {
				frameMax = max(frameMax, od.MaxFrameSize())
			}
		}
		w.bufs, w.sizes = make([][]byte, n), make([]int, n)
		for i := range w.bufs {
			w.bufs[i] = make([]byte, link.Headroom+frameMax)
		}
		if frameMax > link.MaxFrame {
			// A super-frame of 64 KiB cut at a 1448-byte MSS makes 46
			// segments; more in a batch flush the queues first.
			w.segBufs = make([][]byte, 64)
			for i := range w.segBufs {
				w.segBufs[i] = make([]byte, link.Headroom+segFrameMax)
			}
		}
		w.icmpBufs = make([][]byte, min(n, 16))
		for i := range w.icmpBufs {
			w.icmpBufs[i] = make([]byte, forward.ICMPv6ErrorMax+64)
		}
		for range devs {
			w.tx = append(w.tx, make([][]byte, 0, n))
			w.txOff = append(w.txOff, make([]link.Offload, 0, n))
		}
	}
	for _, dv := range d.devs {
		w.macs = append(w.macs, dv.HardwareAddr())
		w.mtus = append(w.mtus, dv.MTU())
	}
	for _, dv := range devs {
		od, ok := dv.(link.OffloadDevice)
		w.offOK = append(w.offOK, ok && od.MaxFrameSize() > link.MaxFrame)
	}
	return w
}

// tunnelTo is where segment encapsulates segments: the real server and
// the next hop toward it.
type tunnelTo struct {
	h   nextHop
	dst [16]byte
}

// ipLen is the IP length of the current frame that has to fit an MTU: its
// own, or for a super-frame that of its longest segment.
func (w *Worker) ipLen(f []byte) int {
	if w.cur.GSO != link.GSONone {
		return w.superLen(f)
	}
	return w.p.End - w.p.L3
}

// superLen is ipLen for a frame read with an Offload (kept apart so that
// ipLen inlines).
func (w *Worker) superLen(f []byte) int {
	if w.cur.Super() {
		return header.SegmentLen(f, &w.p, int(w.cur.GSOSize))
	}
	return w.p.End - w.p.L3
}

// segFrameMax bounds the segments cut here: the largest MTU this data
// plane forwards at (jumbo frames), its Ethernet header and VLAN tags.
const segFrameMax = link.MaxFrame

// readOffloads notes the Offloads of the frames dv just returned.
func (w *Worker) readOffloads(dv link.Device) {
	w.offl = nil
	if od, ok := dv.(link.OffloadDevice); ok {
		w.offl = od.Offloads()
	}
}

// run serves the Worker's device alone, blocking in its Read.
func (w *Worker) run(ctx context.Context) error {
	dv := w.devs[w.dev]
	for ctx.Err() == nil {
		n, err := dv.Read(w.bufs, w.sizes, link.Headroom)
		if err != nil {
			if errors.Is(err, link.ErrClosed) {
				return nil
			}
			return err
		}
		if n > 0 {
			w.readOffloads(dv)
			w.batch(n)
		}
	}
	return nil
}

// batch forwards the n frames just read into w.bufs and writes them out.
func (w *Worker) batch(n int) {
	w.begin(w.d.clock.Now())
	for i := 0; i < n; i++ {
		frame := w.bufs[i][:link.Headroom+w.sizes[i]]
		w.cur = link.Offload{}
		if w.offl != nil {
			w.cur = w.offl[i]
		}
		if dev, out, _ := w.handle(frame); dev >= 0 {
			w.send(dev, out)
		}
	}
	w.cur = link.Offload{}
	w.flush()
}

// send queues the frame out (the current frame, w.cur describing it) on
// device dev. A super-frame toward a device that cannot take it whole is
// cut here into segments.
func (w *Worker) send(dev int, out []byte) {
	if w.cur.Super() && !w.offOK[dev] {
		w.segment(dev, out, link.Headroom, nil)
		return
	}
	w.tx[dev] = append(w.tx[dev], out)
	w.txOff[dev] = append(w.txOff[dev], w.cur)
}

// segment cuts the super-frame f (w.cur) into segments queued on device
// dev; with tn, each segment (at headroom off of its scratch buffer) is
// encapsulated toward tn's real server before it is queued. It counts nothing: the super-frame was counted as one
// packet, as the kernel counts a GSO packet.
func (w *Worker) segment(dev int, f []byte, off int, tn *tunnelTo) {
	var p header.Parsed
	if header.Decode(f, &p) != header.OK {
		atomic.AddUint64(&w.c.drop[forward.DropDecode], 1)
		return
	}
	size := int(w.cur.GSOSize)
	n := header.Segments(f, &p, size)
	if n == 0 {
		atomic.AddUint64(&w.c.drop[forward.DropDecode], 1)
		return
	}
	for i := 0; i < n; i++ {
		if w.segN == len(w.segBufs) {
			w.flush() // the queued segments are written; their buffers are free again
			w.segN = 0
		}
		buf := w.segBufs[w.segN]
		m := header.PutSegment(buf[off:], f, &p, size, i)
		if m == 0 {
			atomic.AddUint64(&w.c.drop[forward.DropDecode], 1)
			return
		}
		w.segN++
		out := buf[off : off+m]
		if tn != nil {
			if header.Decode(out, &w.seg) != header.OK {
				continue
			}
			w.ipID++
			o, n, r := tun.Encap(buf, off, m, &w.seg, tn.h.src, tn.dst, w.ipID, w.mtus[tn.h.dev])
			if r != forward.Pass {
				atomic.AddUint64(&w.c.drop[r], 1)
				continue
			}
			out = buf[o : o+n]
			e := header.Ethernet(out)
			e.SetDst(tn.h.mac)
			e.SetSrc(w.macs[tn.h.dev])
		}
		w.tx[dev] = append(w.tx[dev], out)
		w.txOff[dev] = append(w.txOff[dev], link.Offload{})
	}
}

// begin starts a batch: one clock read and one load of each snapshot.
func (w *Worker) begin(now int64) {
	w.now = now
	w.tbl = w.d.table.Load()
	w.nh = w.d.nh.Load()
	w.t.tr = w.d.tracer.Load() // nil unless gdirector trace runs
	w.icmpN = 0
	w.segN = 0
}

func (w *Worker) flush() {
	for i := range w.tx {
		if len(w.tx[i]) == 0 {
			continue
		}
		// Each queued slice is exactly its frame: a method may have moved
		// the frame's start into the headroom (tunnelling).
		var sent int
		var err error
		if w.offOK[i] {
			sent, err = w.devs[i].(link.OffloadDevice).WriteOffload(w.tx[i], w.txOff[i], 0)
		} else {
			sent, err = w.devs[i].Write(w.tx[i], 0)
		}
		atomic.AddUint64(&w.c.tx, uint64(sent))
		if err != nil || sent < len(w.tx[i]) {
			atomic.AddUint64(&w.c.drop[forward.DropTx], uint64(len(w.tx[i])-sent))
		}
		clear(w.tx[i])
		w.tx[i] = w.tx[i][:0]
		w.txOff[i] = w.txOff[i][:0]
	}
}

// Process handles one frame (link.Headroom bytes of headroom, then the
// frame) as if it had been read from the worker's device at time now. It
// returns the index of the device to send the result on and the result (a
// slice of frame's buffer: the frame may have grown into the headroom), or
// -1 with the reason (forward.Pass for frames that were queued for
// neighbour resolution or were not the director's business). It is the
// unit the pipeline is built from, exposed for tests, traces and pcap
// replay.
func (w *Worker) Process(frame []byte, now int64) (dev int, out []byte, r forward.Reason) {
	w.begin(now)
	return w.handle(frame)
}

func (w *Worker) drop(r forward.Reason) (int, []byte, forward.Reason) {
	atomic.AddUint64(&w.c.drop[r], 1)
	return -1, nil, r
}

// ignore counts a frame that is none of the director's business.
func (w *Worker) ignore() (int, []byte, forward.Reason) {
	atomic.AddUint64(&w.c.ignored, 1)
	return -1, nil, forward.Pass
}

func (w *Worker) process(frame []byte) (int, []byte, forward.Reason) {
	atomic.AddUint64(&w.c.rx, 1)
	f := frame[link.Headroom:]
	p := &w.p
	if st := header.Decode(f, p); st != header.OK {
		if st == header.ErrEtherType {
			return w.ignore()
		}
		return w.drop(forward.DropDecode)
	}
	switch p.EtherType {
	case header.EtherTypeARP:
		return w.arp(frame, f)
	}
	switch p.Proto {
	case header.ProtoTCP, header.ProtoUDP, header.ProtoSCTP:
	case header.ProtoICMP, header.ProtoICMPv6:
		if p.Proto == header.ProtoICMPv6 && (p.ICMPType == header.ICMPv6NeighborSolicit || p.ICMPType == header.ICMPv6NeighborAdvert) {
			return w.ndp(frame)
		}
		if forward.IsICMPError(p.IPv6, p.ICMPType) {
			return w.icmpRelated(frame)
		}
		if p.Proto == header.ProtoICMP && w.d.isVIP(&p.Dst) {
			return w.icmpEcho(frame, f)
		}
		return w.ignore()
	default:
		return w.ignore()
	}
	k := &w.key
	*k = conntrack.Key{Proto: vs.Proto(p.Proto), IPv6: p.IPv6, Src: p.Src, Dst: p.Dst, SPort: p.SPort, DPort: p.DPort}
	if c := w.d.conns.LookupIn(k); c != nil {
		if w.t.tr != nil {
			w.traceHit(c, forward.In)
		}
		if c.Dest == nil || c.Dest.Available() {
			return w.in(frame, c)
		}
		// The real server was removed (ip_vs_in's check of
		// IP_VS_DEST_F_AVAILABLE): drop, or expire and schedule afresh.
		if !w.d.expireNodest {
			return w.drop(forward.DropNodestConn)
		}
		w.d.conns.Delete(c)
	} else if c := w.d.conns.LookupOut(k); c != nil {
		if w.t.tr != nil {
			w.traceHit(c, forward.Out)
		}
		return w.out(frame, c)
	}
	// A packet that opens a connection: the director's mark rules give it
	// its firewall mark (the kernel would have the skb mark from
	// iptables), then the service is found as IPVS finds it.
	var mark uint32
	if w.tbl != nil && len(w.tbl.Marks) > 0 {
		mark = w.tbl.Classify(p.IPv6, vs.Proto(p.Proto), &p.Src, &p.Dst, p.DPort)
	}
	svc := w.tbl.Lookup(mark, p.IPv6, vs.Proto(p.Proto), p.Dst, p.DPort)
	if svc == nil {
		if w.d.isVIP(&p.Dst) {
			return w.drop(forward.DropNoService)
		}
		return w.ignore()
	}
	if p.Frag == header.FragLater {
		return w.drop(forward.DropFragment)
	}
	if w.d.isStandby(&p.Dst) { // a VRRP backup's address: the master schedules
		return w.drop(forward.DropStandby)
	}
	// Like the kernel, only a connection's first packet schedules: for TCP a
	// SYN without ACK, FIN or RST.
	if p.Proto == header.ProtoTCP && p.TCPFlags&(header.TCPSyn|header.TCPAck|header.TCPFin|header.TCPRst) != header.TCPSyn {
		return w.drop(forward.DropNotSyn)
	}
	fl := &w.flow
	*fl = vs.Flow{Proto: vs.Proto(p.Proto), IPv6: p.IPv6, Src: p.Src, Dst: p.Dst, SPort: p.SPort, DPort: p.DPort, Mark: mark}
	var dest *vs.Dest
	var tmpl *conntrack.Conn
	if svc.Persistent() {
		var r forward.Reason
		if dest, tmpl, r = w.schedPersist(svc, fl); dest == nil {
			return w.drop(r)
		}
	} else {
		if svc.FwMark == 0 && p.DPort != svc.Port {
			// A port-zero service that is not persistent: IPVS
			// schedules port zero only in persistent services.
			return w.drop(forward.DropNoService)
		}
		if dest = w.schedule(svc, fl); dest == nil {
			return w.drop(forward.DropNoDest)
		}
	}
	// The real server's port, as IPVS chooses it: without persistence the
	// dest's port unless it is 0; with persistence the dest's port only
	// for a packet to the service's own port (a firewall-mark or port-zero
	// service keeps the packet's port).
	dport := p.DPort
	if dest.Port != 0 && (tmpl == nil || p.DPort == svc.Port) {
		dport = dest.Port
	}
	fwd := dest.FwdMethod()
	laddr, lport := p.Src, p.SPort
	var la *vs.LocalAddr
	if fwd == vs.FullNAT {
		if len(svc.LAddrs) == 0 {
			return w.drop(forward.DropNoLAddr)
		}
		var ok bool
		la, lport, ok = w.d.pool.Alloc(svc.LAddrs, vs.Proto(p.Proto), dest.Addr16, dport, w.inUse)
		if !ok {
			return w.drop(forward.DropPortsExhausted)
		}
		laddr = la.Addr16
	}
	var flags conntrack.Flags
	onePacket := svc.Flags&vs.SvcOnePacket != 0 && p.Proto == header.ProtoUDP
	if onePacket {
		flags = conntrack.FlagOnePacket
	}
	var c *conntrack.Conn
	var err error
	for try := 0; ; try++ {
		c, err = w.d.conns.New(w.now, &conntrack.Params{
			Proto: vs.Proto(p.Proto), IPv6: p.IPv6,
			CAddr: p.Src, CPort: p.SPort,
			VAddr: p.Dst, VPort: p.DPort,
			DAddr: dest.Addr16, DPort: dport,
			LAddr: laddr, LPort: lport,
			Fwd:  fwd,
			Dest: dest, Svc: svc,
			Flags: flags, Control: tmpl,
		})
		if err == nil || la == nil || try == laddrRetries || !errors.Is(err, conntrack.ErrExists) || w.d.conns.LookupIn(k) != nil {
			break
		}
		// Another worker took the same local port for another client at
		// the same moment (the pool found it free before either
		// connection was inserted): take the next one.
		var ok bool
		if la, lport, ok = w.d.pool.Alloc(svc.LAddrs, vs.Proto(p.Proto), dest.Addr16, dport, w.inUse); !ok {
			return w.drop(forward.DropPortsExhausted)
		}
		laddr = la.Addr16
	}
	if err != nil {
		if errors.Is(err, conntrack.ErrTableFull) {
			return w.drop(forward.DropTableFull)
		}
		// Lost a race with another worker for the same flow: use theirs.
		if c = w.d.conns.LookupIn(k); c == nil {
			if la != nil { // every local port offered was taken meanwhile
				return w.drop(forward.DropPortsExhausted)
			}
			return w.drop(forward.DropTableFull)
		}
	}
	atomic.AddUint64(&w.c.newConns, 1)
	if w.t.tr != nil {
		w.traceNew(c)
	}
	if la != nil {
		la.Conns.Add(1)
	}
	dev, out, r := w.in(frame, c)
	if onePacket {
		// ipvsadm -o: the connection lives for this one datagram; the
		// next one is scheduled afresh.
		w.d.conns.Delete(c)
	}
	return dev, out, r
}

// in forwards a client→VIP packet of connection c.
func (w *Worker) in(frame []byte, c *conntrack.Conn) (int, []byte, forward.Reason) {
	p := &w.p
	f := frame[link.Headroom:]
	size := uint64(p.End - p.L3)
	// As ip_vs_in does, the packet is counted before it is sent: one the
	// sending then drops (too big, …) was still received for the service.
	count(c, forward.In, size)
	// The next hop toward the real server, looked up once for the MTU
	// check and the Ethernet rewrite.
	var h nextHop
	var hok bool
	if c.Fwd == vs.Masq || c.Fwd == vs.DirectRoute || c.Fwd == vs.FullNAT {
		// As IPVS does before it mangles anything: a packet too big for
		// the link to the real server gets frag-needed (Packet Too Big)
		// from the VIP, quoting what the client sent.
		if h, hok = w.nh.get(c.DAddr); hok && w.ipLen(f) > w.mtus[h.dev] {
			return w.tooBig(frame, w.mtus[h.dev], p.Dst)
		}
	}
	var r forward.Reason
	switch c.Fwd {
	case vs.Masq:
		c.Update(w.now, conntrack.In, p.TCPFlags)
		r = nat.In(f, p, c.DAddr, c.DPort)
	case vs.DirectRoute:
		if w.d.p2p >= 0 {
			return w.drop(forward.DropMethod) // DR needs layer 2; a TUN device has none
		}
		// conntrack applies the input-only transitions while the
		// connection has seen no reply (always, for DR).
		c.Update(w.now, conntrack.In, p.TCPFlags)
		r = dr.In(p)
	case vs.Tunnel:
		c.Update(w.now, conntrack.In, p.TCPFlags)
		return w.tunnel(frame, c)
	case vs.FullNAT:
		toa := p.Proto == header.ProtoTCP && fullnat.WantTOA(p.TCPFlags, c.State())
		c.Update(w.now, conntrack.In, p.TCPFlags)
		r = fullnat.In(f, p, c.LAddr, c.LPort, c.DAddr, c.DPort)
		if r == forward.Pass && toa && hok {
			// The real server learns the client's address from the TCP
			// option address (TOA) on the handshake's last ACK.
			n, _ := fullnat.InsertTOA(frame[:cap(frame)], link.Headroom, len(f), p, c.CAddr, c.CPort, w.mtus[h.dev])
			frame = frame[:link.Headroom+n]
		}
	default:
		r = forward.DropMethod
	}
	if r != forward.Pass {
		return w.drop(r)
	}
	atomic.AddUint64(&w.c.in, 1)
	return w.l2hop(frame, c.DAddr, h, hok)
}

// tunnel encapsulates a client→VIP packet of c in IPIP (ip6ip6) toward
// the real server: the outer source is the host's preferred source address
// toward it, the next hop the host's route to it. The inner packet is not
// touched. The caller has counted the packet in the statistics.
func (w *Worker) tunnel(frame []byte, c *conntrack.Conn) (int, []byte, forward.Reason) {
	p := &w.p
	if p.Frag == header.FragLater {
		return w.drop(forward.DropFragment)
	}
	h, ok := w.nh.get(c.DAddr)
	if !ok {
		// Dests are resolved when they are added; this is the rare race
		// with a first packet (or a next hop that expired). Park the
		// inner frame, headroom included: the resolver encapsulates it
		// once it knows the source address and the link.
		atomic.AddUint64(&w.c.in, 1)
		return w.park(c.DAddr, frame, true)
	}
	if w.cur.Super() {
		// No segmentation type a packet socket may send describes an
		// IPIP packet: the segments are cut here, then encapsulated.
		f := frame[link.Headroom:]
		if inner := tun.InnerMTU(w.mtus[h.dev], p.IPv6); w.ipLen(f) > inner {
			if inner > 0 {
				return w.tooBig(frame, inner, p.Dst)
			}
			return w.drop(forward.DropMTU)
		}
		atomic.AddUint64(&w.c.in, 1)
		w.tn = tunnelTo{h: h, dst: c.DAddr}
		w.segment(h.dev, f, link.Headroom, &w.tn)
		return -1, nil, forward.Pass
	}
	w.ipID++
	off, n, r := tun.Encap(frame, link.Headroom, len(frame)-link.Headroom, p, h.src, c.DAddr, w.ipID, w.mtus[h.dev])
	if r == forward.DropMTU {
		if inner := tun.InnerMTU(w.mtus[h.dev], p.IPv6); inner > 0 {
			return w.tooBig(frame, inner, p.Dst)
		}
	}
	if r != forward.Pass {
		return w.drop(r)
	}
	atomic.AddUint64(&w.c.in, 1)
	out := frame[off : off+n]
	e := header.Ethernet(out)
	e.SetDst(h.mac)
	e.SetSrc(w.macs[h.dev])
	return h.dev, out, forward.Pass
}

// out forwards a real server's reply of connection c back to the client.
func (w *Worker) out(frame []byte, c *conntrack.Conn) (int, []byte, forward.Reason) {
	p := &w.p
	f := frame[link.Headroom:]
	// The reply crosses the director's forwarding path: the kernel would
	// answer a packet too big for the client's link, or one whose TTL
	// runs out, from the director's own address toward the real server.
	// It leaves toward the client (for FullNAT once rewritten): one
	// next-hop lookup serves the MTU check and the Ethernet header.
	h, hok := w.nh.get(c.CAddr)
	if hok && w.ipLen(f) > w.mtus[h.dev] {
		return w.tooBig(frame, w.mtus[h.dev], w.localTo(p.Src))
	}
	var r forward.Reason
	switch c.Fwd {
	case vs.Masq:
		c.Update(w.now, conntrack.Out, p.TCPFlags)
		r = nat.Out(f, p, c.VAddr, c.VPort)
	case vs.FullNAT:
		c.Update(w.now, conntrack.Out, p.TCPFlags)
		r = fullnat.Out(f, p, c.VAddr, c.VPort, c.CAddr, c.CPort)
	default:
		r = forward.DropMethod
	}
	if r == forward.DropTTL {
		return w.icmpError(frame, r, timeExceeded(p.IPv6), 0, 0, w.localTo(p.Src))
	}
	if r != forward.Pass {
		return w.drop(r)
	}
	count(c, forward.Out, uint64(p.End-p.L3))
	atomic.AddUint64(&w.c.out, 1)
	return w.l2hop(frame, c.CAddr, h, hok)
}

// icmpRelated forwards an ICMP error that concerns a tracked connection
// to the other party, translated for the connection's method, as IPVS
// does (ip_vs_in_icmp / ip_vs_out_icmp). The quoted packet is matched by
// its reversed tuple: an error from the real-server side quotes a packet
// the director sent to the real server (its reverse is the out-key); one
// from the client side quotes a reply (its reverse is the in-key).
func (w *Worker) icmpRelated(frame []byte) (int, []byte, forward.Reason) {
	p := &w.p
	f := frame[link.Headroom:]
	in := &w.inner
	if p.Frag != header.FragNone || !forward.DecodeInner(f, p, in) {
		return w.unrelatedICMP()
	}
	k := &w.key
	*k = conntrack.Key{Proto: vs.Proto(in.Proto), IPv6: in.IPv6, Src: in.Dst, Dst: in.Src, SPort: in.DPort, DPort: in.SPort}
	if c := w.d.conns.LookupOut(k); c != nil && (c.Fwd == vs.Masq || c.Fwd == vs.FullNAT) {
		if w.t.tr != nil {
			w.traceICMP(c, forward.Out)
		}
		// From the real server (or a router on its side) to the client:
		// the client must see the VIP wherever the real server shows,
		// and (FullNAT) itself where the local address shows.
		if p.TTL <= 1 {
			return w.drop(forward.DropTTL)
		}
		decTTL(f, p)
		if p.Src == c.DAddr {
			header.RewriteAddrPort(f, p, true, c.VAddr, 0)
		}
		if c.Fwd == vs.FullNAT {
			header.RewriteAddrPort(f, p, false, c.CAddr, 0)
			forward.RewriteInner(f, p, in, true, c.CAddr, c.CPort)
		}
		forward.RewriteInner(f, p, in, false, c.VAddr, c.VPort)
		count(c, forward.Out, uint64(p.End-p.L3))
		atomic.AddUint64(&w.c.out, 1)
		return w.l2(frame, p.Dst)
	}
	if c := w.d.conns.LookupIn(k); c != nil {
		if w.t.tr != nil {
			w.traceICMP(c, forward.In)
		}
		// From the client side about a reply: deliver it to the real
		// server the way the connection's packets go (counted first, as
		// ip_vs_in_icmp does).
		count(c, forward.In, uint64(p.End-p.L3))
		switch c.Fwd {
		case vs.Masq:
			header.RewriteAddrPort(f, p, false, c.DAddr, 0)
			forward.RewriteInner(f, p, in, true, c.DAddr, c.DPort)
		case vs.FullNAT:
			header.RewriteAddrPort(f, p, true, c.LAddr, 0)
			header.RewriteAddrPort(f, p, false, c.DAddr, 0)
			forward.RewriteInner(f, p, in, false, c.LAddr, c.LPort)
			forward.RewriteInner(f, p, in, true, c.DAddr, c.DPort)
		case vs.DirectRoute:
		case vs.Tunnel:
			return w.tunnel(frame, c)
		default:
			return w.drop(forward.DropMethod)
		}
		atomic.AddUint64(&w.c.in, 1)
		return w.l2(frame, c.DAddr)
	}
	return w.unrelatedICMP()
}

// unrelatedICMP drops an ICMP error sent to a VIP that matches no
// connection; one for any other address is the host's business.
func (w *Worker) unrelatedICMP() (int, []byte, forward.Reason) {
	if w.d.isVIP(&w.p.Dst) {
		return w.drop(forward.DropICMP)
	}
	return w.ignore()
}

func decTTL(f []byte, p *header.Parsed) {
	if p.IPv6 {
		f[p.L3+7]--
	} else {
		header.IPv4(f[p.L3:]).DecTTL()
	}
	p.TTL--
}

// tooBig drops a packet larger than mtu and answers, if it may, with
// frag-needed (IPv4 with DF) or Packet Too Big (IPv6) from src.
func (w *Worker) tooBig(frame []byte, mtu int, src [16]byte) (int, []byte, forward.Reason) {
	p := &w.p
	if p.IPv6 {
		return w.icmpError(frame, forward.DropMTU, forward.ICMPv6PacketTooBig, 0, uint32(mtu), src)
	}
	if !header.IPv4(frame[link.Headroom+p.L3:]).DF() {
		return w.drop(forward.DropMTU) // fragmentation is not done here
	}
	return w.icmpError(frame, forward.DropMTU, forward.ICMPv4DestUnreach, forward.ICMPv4CodeFragNeeded, uint32(mtu), src)
}

func timeExceeded(ipv6 bool) uint8 {
	if ipv6 {
		return forward.ICMPv6TimeExceeded
	}
	return forward.ICMPv4TimeExceeded
}

// localTo returns the host's preferred source address toward a, known
// once a has a resolved next hop; zero otherwise.
func (w *Worker) localTo(a [16]byte) [16]byte {
	h, _ := w.nh.get(a)
	return h.src
}

// icmpError counts the drop of frame for r and, when a source address is
// known and a scratch buffer is free in this batch, sends an ICMP error
// about it back where it came from (to the previous hop's MAC on the
// receiving device). The builders refuse to answer errors, broadcasts and
// later fragments.
func (w *Worker) icmpError(frame []byte, r forward.Reason, typ, code uint8, extra uint32, src [16]byte) (int, []byte, forward.Reason) {
	atomic.AddUint64(&w.c.drop[r], 1)
	if src == ([16]byte{}) || w.icmpN == len(w.icmpBufs) {
		return -1, nil, r
	}
	orig := frame[link.Headroom:]
	buf := w.icmpBufs[w.icmpN]
	mac := w.macs[w.dev]
	prev := header.Ethernet(orig).Src()
	var n int
	if w.p.IPv6 {
		n = forward.ICMPv6Error(buf, orig, typ, code, extra, src, mac, prev)
	} else {
		n = forward.ICMPv4Error(buf, orig, typ, code, extra, [4]byte(src[12:16]), mac, prev)
	}
	if n == 0 {
		return -1, nil, r
	}
	w.icmpN++
	atomic.AddUint64(&w.c.icmpSent, 1)
	// The answer is a new, ordinary frame, whatever the one it quotes.
	w.cur = link.Offload{}
	return w.dev, buf[:n], r
}

// count adds one packet of size bytes (the IP packet, as the kernel counts
// skb->len) to the statistics of c's dest and service. As in
// ip_vs_in_stats and ip_vs_out_stats, nothing is counted for a connection
// whose real server has been removed (no longer available): its traffic is
// no longer the service's. Packets from clients are counted when they are
// received for a connection, before sending (a packet the sending drops
// still counts, as in the kernel); replies once they have been rewritten.
// DR and TUN replies never cross the director: they count no output.
func count(c *conntrack.Conn, dir forward.Dir, size uint64) {
	if c.Dest == nil || !c.Dest.Available() {
		return
	}
	stats := [2]*vs.Stats{&c.Dest.Stats}
	if c.Svc != nil {
		stats[1] = c.Svc.Stats
	}
	for _, st := range stats {
		switch {
		case st == nil:
		case dir == forward.In:
			st.InPkts.Add(1)
			st.InBytes.Add(size)
		default:
			st.OutPkts.Add(1)
			st.OutBytes.Add(size)
		}
	}
}

// l2 sets the Ethernet header toward dst's next hop and picks the egress
// device. An unresolved next hop parks a copy of the frame with the
// resolver (slow path: the allocation happens once per unresolved burst).
func (w *Worker) l2(frame []byte, dst [16]byte) (int, []byte, forward.Reason) {
	h, ok := w.nh.get(dst)
	return w.l2hop(frame, dst, h, ok)
}

// l2hop is l2 with dst's next hop h already looked up (ok: found).
func (w *Worker) l2hop(frame []byte, dst [16]byte, h nextHop, ok bool) (int, []byte, forward.Reason) {
	if !ok {
		return w.park(dst, frame, false)
	}
	f := frame[link.Headroom:]
	if w.ipLen(f) > w.mtus[h.dev] {
		return w.drop(forward.DropMTU)
	}
	e := header.Ethernet(f)
	e.SetDst(h.mac)
	e.SetSrc(w.macs[h.dev])
	return h.dev, f, forward.Pass
}

// park hands a copy of frame (headroom included) to the resolver until
// dst's next hop is known; tunnel frames are still to be encapsulated.
// The allocation happens once per frame of an unresolved burst (slow path).
func (w *Worker) park(dst [16]byte, frame []byte, tunnel bool) (int, []byte, forward.Reason) {
	if w.cur.Super() {
		// Not 64 KiB copies for the resolver, which sends plain frames:
		// the sender retransmits once the neighbour is known.
		return w.drop(forward.DropNeighbour)
	}
	cp := make([]byte, len(frame))
	copy(cp, frame)
	select {
	case w.d.parkCh <- parked{dst: dst, frame: cp, tunnel: tunnel}:
		atomic.AddUint64(&w.c.parked, 1)
		return -1, nil, forward.Pass
	default:
		return w.drop(forward.DropNeighbour)
	}
}

// arp answers requests for VIPs (and the other owned addresses placed on
// this interface) in place and gleans what it learns.
func (w *Worker) arp(frame []byte, f []byte) (int, []byte, forward.Reason) {
	a := header.ARP(f[w.p.L3:])
	if !a.Valid() {
		return w.ignore()
	}
	mac := w.macs[w.dev]
	spa, sha, tpa := a.SenderIP(), a.SenderMAC(), a.TargetIP()
	var sender [16]byte
	header.PutAddr4(&sender, spa[:])
	var target [16]byte
	header.PutAddr4(&target, tpa[:])
	switch a.Op() {
	case header.ARPRequest:
		// Owned addresses placed on another interface (see owned.go)
		// are not answered here.
		own := w.d.answers(&target, w.dev)
		if spa != [4]byte{} && (own || spa == tpa) {
			w.glean(sender, sha)
		}
		if !own || spa == tpa {
			return w.ignore()
		}
		// Turn the request into the reply, in place.
		e := header.Ethernet(f)
		e.SetDst(sha)
		e.SetSrc(mac)
		binary.BigEndian.PutUint16(a[6:], header.ARPReply)
		copy(a[18:24], sha[:])
		copy(a[24:28], spa[:])
		copy(a[8:14], mac[:])
		copy(a[14:18], tpa[:])
		atomic.AddUint64(&w.c.arpReplies, 1)
		return w.dev, f, forward.Pass
	case header.ARPReply:
		if a.TargetMAC() == mac || header.Ethernet(f).Dst() == mac || spa == tpa {
			w.glean(sender, sha)
		}
	}
	return w.ignore()
}

// ndp answers Neighbor Solicitations for IPv6 VIPs and gleans the
// link-layer addresses NDP messages carry (the IPv6 side of arp). The
// advertisement is written in place from the IPv6 header on, so VLAN tags
// stay as they came.
func (w *Worker) ndp(frame []byte) (int, []byte, forward.Reason) {
	p := &w.p
	f := frame[link.Headroom:]
	icmp := f[p.L4:p.End]
	target, ok := header.NDPTarget(icmp)
	if !ok || p.TTL != 255 || p.ICMPCode != 0 { // RFC 4861 §7.1.1 validation
		return w.ignore()
	}
	if p.ICMPType == header.ICMPv6NeighborAdvert {
		if mac, ok := header.NDPLinkAddr(icmp, header.NDPOptTargetLinkAddr); ok {
			w.glean(target, mac)
		}
		return w.ignore()
	}
	mac, hasMAC := header.NDPLinkAddr(icmp, header.NDPOptSourceLinkAddr)
	unspecified := p.Src == ([16]byte{})
	if hasMAC && !unspecified {
		w.glean(p.Src, mac)
	}
	if !w.d.answers(&target, w.dev) || unspecified { // address-resolution only, not DAD
		return w.ignore()
	}
	if !hasMAC {
		mac = header.Ethernet(f).Src()
	}
	our := w.macs[w.dev]
	buf := frame[link.Headroom:cap(frame)]
	n := header.PutNDP(buf[p.L3:], header.ICMPv6NeighborAdvert, header.NAFlagSolicited|header.NAFlagOverride, target, p.Src, target, our)
	e := header.Ethernet(buf)
	e.SetDst(mac)
	e.SetSrc(our)
	atomic.AddUint64(&w.c.arpReplies, 1)
	return w.dev, buf[:p.L3+n], forward.Pass
}

func (w *Worker) glean(ip [16]byte, mac [6]byte) {
	select {
	case w.d.learnCh <- learned{ip: ip, mac: mac, dev: w.dev}:
	default:
	}
}

// icmpEcho answers an ICMP echo request to a VIP in place, as the host
// would if the VIP were configured on it (operators ping VIPs).
func (w *Worker) icmpEcho(frame []byte, f []byte) (int, []byte, forward.Reason) {
	p := &w.p
	if p.ICMPType != 8 || p.Frag != header.FragNone || p.IPv6 {
		return w.ignore()
	}
	ip := header.IPv4(f[p.L3:])
	var a [4]byte
	copy(a[:], ip[12:16])
	copy(ip[12:16], ip[16:20])
	copy(ip[16:20], a[:]) // swapping addresses keeps the header checksum
	icmp := f[p.L4:]
	icmp[0] = 0
	binary.BigEndian.PutUint16(icmp[2:], header.Update16(binary.BigEndian.Uint16(icmp[2:]), 8<<8, 0))
	e := header.Ethernet(f)
	src := e.Src()
	e.SetSrc(w.macs[w.dev])
	e.SetDst(src)
	return w.dev, f, forward.Pass
}
