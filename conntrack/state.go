package conntrack

import "sync/atomic"

// State is a connection's protocol state. For TCP the values and their
// numbering are the kernel's IP_VS_TCP_S_*; UDP connections stay in state 0
// (the kernel's IP_VS_UDP_S_NORMAL, printed "UDP").
type State uint8

// TCP states, in the kernel's order.
const (
	StateNone State = iota
	StateEstablished
	StateSynSent
	StateSynRecv
	StateFinWait
	StateTimeWait
	StateClose
	StateCloseWait
	StateLastAck
	StateListen
	StateSynAck
	numTCPStates
)

var tcpStateNames = [numTCPStates]string{
	StateNone:        "NONE",
	StateEstablished: "ESTABLISHED",
	StateSynSent:     "SYN_SENT",
	StateSynRecv:     "SYN_RECV",
	StateFinWait:     "FIN_WAIT",
	StateTimeWait:    "TIME_WAIT",
	StateClose:       "CLOSE",
	StateCloseWait:   "CLOSE_WAIT",
	StateLastAck:     "LAST_ACK",
	StateListen:      "LISTEN",
	StateSynAck:      "SYNACK",
}

// String returns the TCP state name as ipvsadm -Lnc prints it.
func (s State) String() string {
	if s < numTCPStates {
		return tcpStateNames[s]
	}
	return "ERR!"
}

// Dir is the direction of a packet relative to a connection. The values are
// the kernel's IP_VS_DIR_*.
type Dir uint8

// Directions.
const (
	In     Dir = iota // client → server, the director sees both directions
	Out               // server → client (replies seen by the director)
	InOnly            // client → server where replies bypass the director
)

// TCP header flag bits (byte 13 of the TCP header).
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// Events index the transition rows: which flag of the packet drives the
// state machine, chosen with the kernel's priority (RST, SYN, FIN, ACK).
const (
	evSYN = iota
	evFIN
	evACK
	evRST
	numEvents
	evNone = -1 // none of the four flags: the kernel moves to CLOSE
)

// tcpEvent maps a TCP flags byte to an event, with RST beating SYN beating
// FIN beating ACK. It is a 32-entry lookup on the bits that matter.
var tcpEventOf = func() (t [32]int8) {
	for f := range t {
		switch {
		case f&tcpRST != 0:
			t[f] = evRST
		case f&tcpSYN != 0:
			t[f] = evSYN
		case f&tcpFIN != 0:
			t[f] = evFIN
		case f&tcpACK != 0:
			t[f] = evACK
		default:
			t[f] = evNone
		}
	}
	return
}()

func tcpEvent(flags uint8) int { return int(tcpEventOf[flags&0x1f]) }

// tcpNext gives, for each direction and current state, the next state for
// the events SYN, FIN, ACK, RST. These are the transitions of the kernel's
// normal (not secure_tcp) tables in ip_vs_proto_tcp.c, kept here per state
// rather than per event. Short aliases keep the rows readable.
var tcpNext = func() (t [3][numTCPStates][numEvents]State) {
	const (
		NO = StateNone
		ES = StateEstablished
		SS = StateSynSent
		SR = StateSynRecv
		FW = StateFinWait
		TW = StateTimeWait
		CL = StateClose
		CW = StateCloseWait
		LA = StateLastAck
		LI = StateListen
		SA = StateSynAck
	)
	//                     SYN FIN ACK RST
	t[In] = [numTCPStates][numEvents]State{
		NO: {SR, CL, ES, CL},
		ES: {ES, CW, ES, CL},
		SS: {ES, SS, SS, CL},
		SR: {SR, TW, ES, SR},
		FW: {SR, TW, FW, CL},
		TW: {SR, TW, TW, CL},
		CL: {SR, CL, CL, CL},
		CW: {SR, CW, CW, CL},
		LA: {SR, LA, CL, LA},
		LI: {SR, LI, LI, LI},
		SA: {SR, TW, ES, SR},
	}
	t[Out] = [numTCPStates][numEvents]State{
		NO: {SS, TW, ES, CL},
		ES: {ES, FW, ES, CL},
		SS: {SS, SS, SS, SS},
		SR: {SR, TW, ES, CL},
		FW: {SS, FW, FW, CL},
		TW: {SS, TW, TW, TW},
		CL: {SS, CL, CL, CL},
		CW: {SS, TW, CW, CL},
		LA: {SS, LA, LA, CL},
		LI: {LI, LI, ES, CL},
		SA: {SR, TW, ES, CL},
	}
	t[InOnly] = [numTCPStates][numEvents]State{
		NO: {SR, CL, ES, CL},
		ES: {ES, FW, ES, CL},
		SS: {ES, SS, SS, CL},
		SR: {SR, TW, ES, SR},
		FW: {SR, FW, FW, CL},
		TW: {SR, TW, TW, CL},
		CL: {SR, CL, CL, CL},
		CW: {SR, CW, CW, CL},
		LA: {SR, LA, CL, LA},
		LI: {SR, LI, LI, LI},
		SA: {SR, TW, ES, CL},
	}
	return
}()

// tcpActive tells which states count in Dest.ActiveConns (the kernel's
// tcp_state_active_table). Since the kernel change "ipvs: count
// pre-established TCP states as active", the handshake states count as
// active too, not only ESTABLISHED.
var tcpActive = [numTCPStates]bool{
	StateEstablished: true,
	StateSynSent:     true,
	StateSynRecv:     true,
	StateSynAck:      true,
}

// nextTCP is the pure transition function: the state after a packet with
// the given flags in direction dir (already adjusted for NoOutput).
func nextTCP(cur State, dir Dir, flags uint8) State {
	ev := tcpEvent(flags)
	if ev == evNone || cur >= numTCPStates || dir > InOnly {
		return StateClose
	}
	return tcpNext[dir][cur][ev]
}

const sec = int64(1e9)

// Default timeouts, seconds (kernel tcp_timeouts[] and udp_timeouts[]).
var defaultTCPTimeouts = [numTCPStates]int64{
	StateNone:        2,
	StateEstablished: 15 * 60,
	StateSynSent:     2 * 60,
	StateSynRecv:     60,
	StateFinWait:     2 * 60,
	StateTimeWait:    2 * 60,
	StateClose:       10,
	StateCloseWait:   60,
	StateLastAck:     30,
	StateListen:      2 * 60,
	StateSynAck:      2 * 60,
}

const (
	defaultUDPTimeout = 5 * 60
	// newConnTimeout is what ip_vs_conn_new gives a connection before its
	// first packet has been through the state machine (3*HZ).
	newConnTimeout = 3
)

// timeouts is the live timeout table of a Table, nanoseconds; read per
// packet with plain atomic loads, written by SetTimeouts.
type timeouts struct {
	tcp       [numTCPStates]atomic.Int64
	udp       atomic.Int64
	syncField // the table's Syncer (sync.go), reached by Conn.Update through ext.to
}

func (t *timeouts) init() {
	for s, v := range defaultTCPTimeouts {
		t.tcp[s].Store(v * sec)
	}
	t.udp.Store(defaultUDPTimeout * sec)
}

// SetTimeouts changes the timeouts like ipvsadm --set tcp tcpfin udp: tcp is
// the ESTABLISHED timeout, tcpfin the FIN_WAIT timeout, udp the UDP timeout,
// all in seconds; a value ≤ 0 leaves that timeout unchanged (range checks
// with errors belong to the control plane). Existing connections keep their
// expiry until their next packet, as in the kernel.
func (t *Table) SetTimeouts(tcp, tcpfin, udp int) {
	if tcp > 0 {
		t.to.tcp[StateEstablished].Store(int64(tcp) * sec)
	}
	if tcpfin > 0 {
		t.to.tcp[StateFinWait].Store(int64(tcpfin) * sec)
	}
	if udp > 0 {
		t.to.udp.Store(int64(udp) * sec)
	}
}

// Timeouts returns the current tcp, tcpfin and udp timeouts in seconds
// (ipvsadm -L --timeout).
func (t *Table) Timeouts() (tcp, tcpfin, udp int) {
	return int(t.to.tcp[StateEstablished].Load() / sec),
		int(t.to.tcp[StateFinWait].Load() / sec),
		int(t.to.udp.Load() / sec)
}

// TCPTimeout returns the current timeout of a TCP state in nanoseconds.
func (t *Table) TCPTimeout(s State) int64 {
	if s >= numTCPStates {
		return 0
	}
	return t.to.tcp[s].Load()
}
