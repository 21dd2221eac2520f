package status

import (
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/vs"
)

// Conn is one connection with the rewrites its packets get.
type Conn struct {
	Proto   string `json:"proto"`   // "tcp", "udp", "sctp"
	State   string `json:"state"`   // as ipvsadm -L -n -c prints it
	Expires int64  `json:"expires"` // seconds left
	Forward string `json:"forward"` // the method, as Dest.Forward
	Client  string `json:"client"`  // CIP:CPORT
	Virtual string `json:"virtual"` // VIP:VPORT
	Real    string `json:"real"`    // RIP:RPORT
	Local   string `json:"local,omitempty"`
	// Rewrites are what the director does to the connection's packets:
	// "in" for the client's, "out" for the replies that come back through
	// it (NAT and FullNAT only).
	Rewrites []Rewrite `json:"rewrites"`
}

// Rewrite is one direction of a connection through the director.
type Rewrite struct {
	Dir    string `json:"dir"` // "in" or "out"
	Before Tuple  `json:"before"`
	After  Tuple  `json:"after"`
	// Outer is the IP header TUN puts around the packet; its source DIP
	// is the director's address on the route to the real server.
	Outer *Tuple `json:"outer,omitempty"`
	// Link says what changes below IP: DR rewrites only the destination
	// MAC, to the real server's.
	Link string `json:"link,omitempty"`
}

// Tuple is a packet's source and destination, ADDR:PORT.
type Tuple struct {
	Src string `json:"src"`
	Dst string `json:"dst"`
}

// seen is what the tracker remembers of a connection.
type seen struct {
	gen uint64 // the walk that first saw it
}

// tracker finds the newest connections: it walks the connection table at
// most once per Config.ScanEvery, carrying over the walk at which each
// connection was first seen.
type tracker struct {
	mu    sync.Mutex
	gen   uint64
	last  time.Time
	seen  map[*conntrack.Conn]seen
	lists map[vs.ServiceKey][]Conn
	info  RecentInfo
}

// entry is a connection found by a walk.
type entry struct {
	c       *conntrack.Conn
	gen     uint64
	expires int64
}

// list returns the newest connections of every service of t, walking the
// table again if the last walk is older than cfg.ScanEvery.
func (tr *tracker) list(cfg *Config, t *vs.Table) (map[vs.ServiceKey][]Conn, RecentInfo) {
	if cfg.Conns == nil {
		return nil, RecentInfo{}
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	wall := cfg.Now()
	if tr.lists != nil && cfg.ScanEvery > 0 && wall.Sub(tr.last) < cfg.ScanEvery && !wall.Before(tr.last) {
		return tr.lists, tr.info
	}
	tr.last = wall
	tr.gen++
	next := make(map[*conntrack.Conn]seen, len(tr.seen))
	var found []entry
	scanned, truncated := 0, false
	cfg.Conns.Range(func(c *conntrack.Conn) bool {
		if scanned >= cfg.MaxScan {
			truncated = true
			return false
		}
		scanned++
		if c.Flags()&conntrack.FlagTemplate != 0 || c.Svc == nil {
			return true
		}
		s, ok := tr.seen[c]
		if !ok {
			s.gen = tr.gen
		}
		next[c] = s
		found = append(found, entry{c: c, gen: s.gen, expires: c.Expires()})
		return true
	})
	tr.seen = next
	// Newest first: first seen by a later walk, then expiring later (a
	// connection that saw a packet more recently).
	sort.SliceStable(found, func(i, j int) bool {
		if found[i].gen != found[j].gen {
			return found[i].gen > found[j].gen
		}
		return found[i].expires > found[j].expires
	})
	now := cfg.ConnClock()
	lists := make(map[vs.ServiceKey][]Conn)
	for _, e := range found {
		k := e.c.Svc.Key
		if len(lists[k]) >= cfg.RecentPerService {
			continue
		}
		if t != nil && t.Get(k) == nil {
			continue
		}
		lists[k] = append(lists[k], connView(e.c, now))
	}
	tr.lists = lists
	tr.info = RecentInfo{Source: "conntrack", Scanned: scanned, Truncated: truncated}
	return lists, tr.info
}

// connView describes c and its rewrites.
func connView(c *conntrack.Conn, now int64) Conn {
	left := (c.Expires() - now) / int64(time.Second)
	if left < 0 {
		left = 0
	}
	ap := func(b [16]byte, port uint16) string {
		return netip.AddrPortFrom(vs.AddrFrom16(b), port).String()
	}
	client, virtual, real := ap(c.CAddr, c.CPort), ap(c.VAddr, c.VPort), ap(c.DAddr, c.DPort)
	v := Conn{
		Proto: protoName(c.Proto), State: c.StateName(), Expires: left,
		Forward: forwardName(c.Fwd), Client: client, Virtual: virtual, Real: real,
	}
	in := Rewrite{Dir: "in", Before: Tuple{client, virtual}}
	switch c.Fwd {
	case vs.Masq:
		in.After = Tuple{client, real}
		v.Rewrites = []Rewrite{in, {Dir: "out", Before: Tuple{real, client}, After: Tuple{virtual, client}}}
	case vs.FullNAT:
		local := ap(c.LAddr, c.LPort)
		v.Local = local
		in.After = Tuple{local, real}
		v.Rewrites = []Rewrite{in, {Dir: "out", Before: Tuple{real, local}, After: Tuple{virtual, client}}}
	case vs.DirectRoute:
		in.After = in.Before
		in.Link = "dst MAC → " + vs.AddrFrom16(c.DAddr).String()
		v.Rewrites = []Rewrite{in}
	case vs.Tunnel:
		in.After = in.Before
		in.Outer = &Tuple{"DIP", vs.AddrFrom16(c.DAddr).String()}
		v.Rewrites = []Rewrite{in}
	default: // Local: delivered to the director itself
		in.After = in.Before
		v.Rewrites = []Rewrite{in}
	}
	return v
}

func protoName(p vs.Proto) string {
	switch p {
	case vs.TCP:
		return "tcp"
	case vs.UDP:
		return "udp"
	case vs.SCTP:
		return "sctp"
	}
	return "ip"
}
