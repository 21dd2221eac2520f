package httpapi

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/gdirector/gdirector/vs"
)

// Service is the JSON view of a virtual service.
type Service struct {
	Path string `json:"path"` // this service's API path
	// Proto, Addr and Port identify a service on a virtual address; they
	// are absent for a firewall-mark service.
	Proto     string       `json:"proto,omitempty"` // "tcp", "udp" or "sctp"
	Addr      string       `json:"addr,omitempty"`
	Port      *uint16      `json:"port,omitempty"`
	FwMark    uint32       `json:"fwmark,omitempty"`
	Family    string       `json:"family"` // "inet" or "inet6"
	Scheduler string       `json:"scheduler"`
	Flags     []string     `json:"flags"`                // "one-packet" (-o), scheduler flags as ipvsadm names them (sh-port, flag-1, …)
	Persist   *Persistence `json:"persistent,omitempty"` // absent unless -p
	Stats     Stats        `json:"stats"`
	Dests     []Dest       `json:"dests"`
	LAddrs    []LocalAddr  `json:"laddrs,omitempty"` // FullNAT local addresses
}

// Persistence is a persistent service's timeout and granularity.
type Persistence struct {
	Timeout uint32 `json:"timeout"`           // seconds
	Netmask string `json:"netmask,omitempty"` // IPv4: the client mask (255.255.255.255 = per client)
	Prefix  uint32 `json:"prefix,omitempty"`  // IPv6: the client prefix length
}

// Dest is the JSON view of a real server.
type Dest struct {
	Path         string `json:"path"`
	Addr         string `json:"addr"`
	Port         uint16 `json:"port"`
	Forward      string `json:"forward"` // "masq", "route", "tunnel", "fullnat" or "local"
	Weight       int32  `json:"weight"`
	UThreshold   uint32 `json:"u_threshold"` // 0 = none
	LThreshold   uint32 `json:"l_threshold"`
	Overloaded   bool   `json:"overloaded"`
	ActiveConns  int32  `json:"active_conns"`
	InactConns   int32  `json:"inact_conns"`
	PersistConns int32  `json:"persist_conns"`
	Stats        Stats  `json:"stats"`
}

// Stats are traffic counters since the service or real server was added
// (or last zeroed), and their rates as ipvsadm --rate shows them.
type Stats = vs.Counters

// Rates are the per-second rates of the IPVS estimator (a moving average
// updated every 2 s): connections, packets in and out, bytes in and out.
type Rates = vs.Rates

// LocalAddr is the JSON view of a FullNAT local address.
type LocalAddr struct {
	Addr      string `json:"addr"`
	Iface     string `json:"iface,omitempty"`
	Conns     int64  `json:"conns"`
	Conflicts uint64 `json:"conflicts"`
}

// ServiceList is the answer to GET /v1/services.
type ServiceList struct {
	Services []Service `json:"services"`
}

// CommandResult is the answer to POST /v1/ipvsadm and /v1/CMD.
type CommandResult struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Code   int    `json:"code"`
}

func serviceView(s *vs.Service) Service {
	v := Service{
		Path:      servicePath(s),
		Family:    "inet",
		Scheduler: s.SchedName,
		Flags:     serviceFlags(s),
		Stats:     s.Stats.Read(),
		Dests:     make([]Dest, 0, len(s.Dests)),
	}
	if s.IPv6 {
		v.Family = "inet6"
	}
	if s.FwMark != 0 {
		v.FwMark = s.FwMark
	} else {
		port := s.Port
		v.Proto, v.Addr, v.Port = strings.ToLower(s.Proto.String()), s.Addr.String(), &port
	}
	if s.Persistent() {
		p := &Persistence{Timeout: s.Timeout}
		if s.IPv6 {
			p.Prefix = s.Netmask
		} else {
			m := s.Netmask
			p.Netmask = netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
		}
		v.Persist = p
	}
	for _, d := range s.Dests {
		v.Dests = append(v.Dests, destView(v.Path, d))
	}
	for _, la := range s.LAddrs {
		v.LAddrs = append(v.LAddrs, LocalAddr{Addr: la.Addr.String(), Iface: la.Iface, Conns: la.Conns.Load(), Conflicts: la.Conflicts.Load()})
	}
	return v
}

// serviceFlags names the flags as ipvsadm does (-o, -b).
func serviceFlags(s *vs.Service) []string {
	f := []string{}
	if s.Flags&vs.SvcOnePacket != 0 {
		f = append(f, "one-packet")
	}
	for i, bit := range []uint32{vs.SvcSchedFlag1, vs.SvcSchedFlag2, vs.SvcSchedFlag3} {
		if s.Flags&bit == 0 {
			continue
		}
		switch {
		case (s.SchedName == "sh" || s.SchedName == "mh") && i == 0:
			f = append(f, s.SchedName+"-fallback")
		case (s.SchedName == "sh" || s.SchedName == "mh") && i == 1:
			f = append(f, s.SchedName+"-port")
		default:
			f = append(f, "flag-"+strconv.Itoa(i+1))
		}
	}
	return f
}

func destView(svcPath string, d *vs.Dest) Dest {
	return Dest{
		Path:         destPath(svcPath, d),
		Addr:         d.Addr.String(),
		Port:         d.Port,
		Forward:      strings.ToLower(d.FwdMethod().String()),
		Weight:       d.Weight.Load(),
		UThreshold:   d.UThreshold.Load(),
		LThreshold:   d.LThreshold.Load(),
		Overloaded:   d.Overloaded(),
		ActiveConns:  d.ActiveConns.Load(),
		InactConns:   d.InactConns.Load(),
		PersistConns: d.PersistConns.Load(),
		Stats:        d.Stats.Read(),
	}
}
