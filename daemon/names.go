package daemon

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gdirector/gdirector/ipvsadm"
)

// ipvsadm prints names where it is not given -n: port names from the
// services database and host names from the resolver, which the C library
// gives it. The daemon formats the listings, so it does the lookups, with
// a bound on each (nameTimeout) and a cache (nameTTL), so that a listing
// never hangs on an unreachable name server the way ipvsadm can.
const (
	nameTimeout = 300 * time.Millisecond
	nameTTL     = time.Minute
	nameCacheN  = 4096
)

// systemNames returns the names ipvsadm would use on this host:
// /etc/services (the built-in table if it cannot be read) and the system
// resolver (/etc/hosts, then DNS).
func systemNames() *ipvsadm.Names {
	n := &ipvsadm.Names{}
	if b, err := os.ReadFile("/etc/services"); err == nil {
		n.Services = ipvsadm.ParseServices(string(b))
	}
	c := &nameCache{m: map[string]cached{}}
	n.HostName = func(a netip.Addr) string {
		return c.get("a:"+a.String(), func(ctx context.Context) string {
			names, err := net.DefaultResolver.LookupAddr(ctx, a.String())
			if err != nil || len(names) == 0 {
				return ""
			}
			return strings.TrimSuffix(names[0], ".")
		})
	}
	n.LookupHost = func(name string) (netip.Addr, bool) {
		s := c.get("h:"+name, func(ctx context.Context) string {
			addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", name)
			if err != nil || len(addrs) == 0 {
				return ""
			}
			return addrs[0].Unmap().String()
		})
		a, err := netip.ParseAddr(s)
		return a, err == nil
	}
	return n
}

// nameCache remembers lookups, failed ones included, for nameTTL.
type nameCache struct {
	mu sync.Mutex
	m  map[string]cached
}

type cached struct {
	v  string
	at time.Time
}

func (c *nameCache) get(key string, look func(context.Context) string) string {
	now := time.Now()
	c.mu.Lock()
	if e, ok := c.m[key]; ok && now.Sub(e.at) < nameTTL {
		c.mu.Unlock()
		return e.v
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), nameTimeout)
	v := look(ctx)
	cancel()
	c.mu.Lock()
	if len(c.m) >= nameCacheN {
		clear(c.m)
	}
	c.m[key] = cached{v: v, at: now}
	c.mu.Unlock()
	return v
}
