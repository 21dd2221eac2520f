package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/ctl"
)

// benchConfig is n services of m real servers, each with a TCP check of
// its own target (no two services share a real server's port).
func benchConfig(n, m int) *config.Config {
	c := &config.Config{}
	for i := range n {
		s := service(fmt.Sprintf("192.0.2.%d:%d", i%250+1, 1000+i))
		for j := range m {
			s.Dests = append(s.Dests, dest(fmt.Sprintf("203.0.113.%d:%d", j%250+1, 8000+i), 1, tcpCheck))
		}
		c.Services = append(c.Services, s)
	}
	return c
}

// groupConfig is n services (as a keepalived virtual_server_group of n
// VIPs expands) over the same m real servers with the same TCP check.
func groupConfig(n, m int) *config.Config {
	c := &config.Config{}
	for i := range n {
		s := service(fmt.Sprintf("192.0.2.%d:%d", i%250+1, 1000+i/250))
		for j := range m {
			s.Dests = append(s.Dests, dest(fmt.Sprintf("203.0.113.%d:80", j%250+1), 1, tcpCheck))
		}
		c.Services = append(c.Services, s)
	}
	return c
}

// BenchmarkApplyGroup is the first Apply of a group of 10,000 VIPs over 2
// real servers: 20,000 real servers, 2 checkers.
func BenchmarkApplyGroup(b *testing.B) {
	cfg := groupConfig(10000, 2)
	b.ReportAllocs()
	for b.Loop() {
		e := New(ctl.NewManager(ctl.Config{}), Options{})
		if _, err := e.Apply(cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGroupHealthChange is one of the 2 real servers of a group of
// 10,000 VIPs going down or up: one checker's verdict, 10,000 real
// servers, one publication.
func BenchmarkGroupHealthChange(b *testing.B) {
	e := New(ctl.NewManager(ctl.Config{}), Options{})
	if _, err := e.Apply(groupConfig(10000, 2)); err != nil {
		b.Fatal(err)
	}
	c := e.svcs[0].dests[0].checks[0]
	if len(c.dests) != 10000 {
		b.Fatalf("the checker decides %d real servers", len(c.dests))
	}
	down := Result{Err: errors.New("refused")}
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			e.report(ctx, c, down)
		} else {
			e.report(ctx, c, Result{})
		}
	}
}

// BenchmarkHealthChange is the cost of one real server going down or up
// (one ctl.Manager.Replace of the whole configuration) with 100 services
// of 10 real servers.
func BenchmarkHealthChange(b *testing.B) {
	mgr := ctl.NewManager(ctl.Config{})
	e := New(mgr, Options{})
	if _, err := e.Apply(benchConfig(100, 10)); err != nil {
		b.Fatal(err)
	}
	c := e.svcs[50].dests[5].checks[0]
	down := Result{Err: errors.New("refused")}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			e.report(ctx, c, down)
		} else {
			e.report(ctx, c, Result{})
		}
	}
}

// BenchmarkApplyUnchanged is a reload of the same 100×10 configuration.
func BenchmarkApplyUnchanged(b *testing.B) {
	mgr := ctl.NewManager(ctl.Config{})
	e := New(mgr, Options{})
	cfg := benchConfig(100, 10)
	if _, err := e.Apply(cfg); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Apply(cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTCPCheck is one TCP_CHECK attempt against a loopback listener.
func BenchmarkTCPCheck(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ap, _ := netip.ParseAddrPort(l.Addr().String())
	p := &tcpProber{target: ap}
	ctx := context.Background()
	for b.Loop() {
		if r := p.probe(ctx); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
}
