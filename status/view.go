package status

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/gdirector/gdirector/vs"
)

// View is the JSON document of /status.json.
type View struct {
	Time      string     `json:"time"` // RFC 3339, when the document was built
	Totals    Stats      `json:"totals"`
	Conntrack *Conntrack `json:"conntrack,omitempty"` // absent without Config.Conntrack
	// HA is the VRRP instances and sync daemons; absent while no VRRP
	// instance runs (or without Config.HA).
	HA       *HA       `json:"ha,omitempty"`
	Services []Service `json:"services"`
	// Recent says where the connections listed per service come from.
	Recent RecentInfo `json:"recent"`
	// Packets says whether the page's sampled packet trace runs.
	Packets PacketInfo `json:"packets"`
}

// Conntrack is the size of the connection table.
type Conntrack struct {
	Entries  int `json:"entries"` // connections and persistence templates
	Capacity int `json:"capacity"`
}

// RecentInfo describes the last walk of the connection table.
type RecentInfo struct {
	// Source is "conntrack": the connections are the connection table's,
	// not individual packets (gdirector trace shows those); "" without a
	// connection table.
	Source    string `json:"source"`
	Scanned   int    `json:"scanned"`   // connections looked at by the last walk
	Truncated bool   `json:"truncated"` // the walk stopped at Config.MaxScan
}

// Service is a virtual service.
type Service struct {
	Name      string `json:"name"`            // as ipvsadm -L -n names it: "TCP 192.0.2.10:80", "FWM 7", "FWM 7 IPv6"
	Proto     string `json:"proto,omitempty"` // "tcp", "udp" or "sctp"; absent for a firewall-mark service
	Addr      string `json:"addr,omitempty"`
	Port      uint16 `json:"port"`
	FwMark    uint32 `json:"fwmark,omitempty"`
	Family    string `json:"family"` // "inet" or "inet6"
	Scheduler string `json:"scheduler"`
	// Persistent is the persistence timeout in seconds, 0 unless -p.
	Persistent uint32   `json:"persistent"`
	LAddrs     []string `json:"laddrs,omitempty"` // FullNAT local addresses
	Stats      Stats    `json:"stats"`
	Dests      []Dest   `json:"dests"`
	// Recent are the service's newest connections, newest first.
	Recent []Conn `json:"recent"`
	// Packets are the service's last sampled packets, newest first.
	Packets []Packet `json:"packets"`
}

// Dest is a real server.
type Dest struct {
	Addr         string `json:"addr"` // ADDR:PORT, IPv6 in brackets
	Forward      string `json:"forward"`
	Weight       int32  `json:"weight"`
	UThreshold   uint32 `json:"u_threshold"` // 0 = none
	LThreshold   uint32 `json:"l_threshold"`
	Overloaded   bool   `json:"overloaded"`
	ActiveConns  int32  `json:"active_conns"`
	InactConns   int32  `json:"inact_conns"`
	PersistConns int32  `json:"persist_conns"`
	// Up is the health: a checker's verdict when Checked, else whether
	// the scheduler may give the real server new connections.
	Up      bool  `json:"up"`
	Checked bool  `json:"checked"`
	Stats   Stats `json:"stats"`
}

// Stats are traffic counters (ipvsadm -L -n --stats --exact) and their
// estimated rates (ipvsadm --rate), as the remote API shows them too.
type Stats = vs.Counters

// Rates per second.
type Rates = vs.Rates

// forwardName is the method as the page names it.
func forwardName(m vs.FwdMethod) string {
	switch m {
	case vs.Masq:
		return "nat"
	case vs.DirectRoute:
		return "dr"
	case vs.Tunnel:
		return "tun"
	case vs.FullNAT:
		return "fullnat"
	case vs.Local:
		return "local"
	}
	return "unknown"
}

func hostPort(a netip.Addr, port uint16) string {
	return netip.AddrPortFrom(a.Unmap(), port).String()
}

// serviceName names s as ipvsadm -L -n heads its block.
func serviceName(s *vs.Service) string {
	if s.FwMark != 0 {
		n := "FWM " + strconv.FormatUint(uint64(s.FwMark), 10)
		if s.IPv6 {
			n += " IPv6"
		}
		return n
	}
	return s.Proto.String() + " " + hostPort(s.Addr, s.Port)
}

// build makes the document from t; recent gives each service's newest
// connections.
func (h *Handler) build(t *vs.Table, now time.Time) View {
	v := View{Time: now.UTC().Format(time.RFC3339), Services: []Service{}}
	recent, info := h.recent.list(h.cfg, t)
	v.Recent = info
	names := map[string]bool{}
	if t != nil {
		for _, s := range t.Services {
			names[serviceName(s)] = true
		}
	}
	pkts, pinfo := h.packets.lists(names)
	v.Packets = pinfo
	if h.cfg.Conntrack != nil {
		e, c := h.cfg.Conntrack()
		v.Conntrack = &Conntrack{Entries: e, Capacity: c}
	}
	if h.cfg.HA != nil {
		v.HA = h.cfg.HA.HAReport()
	}
	if t == nil {
		return v
	}
	for _, s := range t.Services {
		sv := Service{
			Name: serviceName(s), Port: s.Port, FwMark: s.FwMark, Family: "inet",
			Scheduler: s.SchedName, Stats: s.Stats.Read(),
			Dests: make([]Dest, 0, len(s.Dests)), Recent: recent[s.Key],
			Packets: pkts[serviceName(s)],
		}
		if sv.Packets == nil {
			sv.Packets = []Packet{}
		}
		if s.IPv6 {
			sv.Family = "inet6"
		}
		if s.FwMark == 0 {
			sv.Proto = protoName(s.Proto)
			sv.Addr = s.Addr.Unmap().String()
		}
		if s.Persistent() {
			sv.Persistent = s.Timeout
		}
		for _, la := range s.LAddrs {
			sv.LAddrs = append(sv.LAddrs, la.Addr.String())
		}
		if sv.Recent == nil {
			sv.Recent = []Conn{}
		}
		for _, d := range s.Dests {
			dv := Dest{
				Addr:         hostPort(d.Addr, d.Port),
				Forward:      forwardName(d.FwdMethod()),
				Weight:       d.Weight.Load(),
				UThreshold:   d.UThreshold.Load(),
				LThreshold:   d.LThreshold.Load(),
				Overloaded:   d.Overloaded(),
				ActiveConns:  d.ActiveConns.Load(),
				InactConns:   d.InactConns.Load(),
				PersistConns: d.PersistConns.Load(),
				Stats:        d.Stats.Read(),
			}
			if h.cfg.Health != nil {
				dv.Up, dv.Checked = h.cfg.Health(s, d)
			}
			if !dv.Checked {
				dv.Up = d.Available() && dv.Weight > 0 && !dv.Overloaded
			}
			sv.Dests = append(sv.Dests, dv)
		}
		v.Totals.Add(sv.Stats)
		v.Services = append(v.Services, sv)
	}
	return v
}
