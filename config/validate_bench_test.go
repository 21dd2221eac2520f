package config

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

// largeConfig is n services (VIPs in 192.0.2.0/24, one port each) of m
// real servers with a TCP check each, as a keepalived
// virtual_server_group expands.
func largeConfig(n, m int) *Config {
	c := &Config{Path: "large.conf"}
	for i := range n {
		s := Service{Line: i + 1, ServiceConfig: ctl.ServiceConfig{
			ServiceID: ctl.ServiceID{Proto: vs.TCP, Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(i%250 + 1)}), Port: uint16(1000 + i/250)},
			Scheduler: "wlc", Netmask: 0xffffffff}}
		for j := range m {
			s.Dests = append(s.Dests, Dest{Line: i + 1,
				DestConfig: ctl.DestConfig{Addr: netip.AddrFrom4([4]byte{203, 0, 113, byte(j%250 + 1)}), Port: 80, Fwd: vs.Masq, Weight: 1},
				Checks:     []Check{{Line: i + 1, Kind: CheckTCP, Interval: time.Second}}})
		}
		c.Services = append(c.Services, s)
	}
	return c
}

// BenchmarkValidate is Validate of 10,000 services of 2 real servers.
func BenchmarkValidate(b *testing.B) {
	c := largeConfig(10000, 2)
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(c, nil); err != nil {
			b.Fatal(err)
		}
	}
}
