package healthcheck

import (
	"net/netip"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/ctl"
)

// Building a Manager's configuration (on a Replace stage) from a
// config.Config: in full (every real server and the sorry server at
// their configured weights, to validate), or effective (as the health of
// the real servers and the quorum decide).

// buildFull stages all of c, to validate it.
func buildFull(st *ctl.Manager, c *config.Config, marks bool) error {
	if err := buildExtras(st, c, marks); err != nil {
		return err
	}
	for i := range c.Services {
		s := &c.Services[i]
		if err := addService(st, c.Path, s); err != nil {
			return err
		}
		dup := false
		for j := range s.Dests {
			d := &s.Dests[j]
			if err := addDest(st, c.Path, s, d, d.DestConfig); err != nil {
				return err
			}
			dup = dup || isSorry(s, d.Addr, d.Port)
		}
		if s.Sorry != nil && !dup {
			if err := addDest(st, c.Path, s, s.Sorry, sorryConfig(s)); err != nil {
				return err
			}
		}
	}
	return nil
}

// buildExtras stages c's timeouts and, if marks, its mark rules (which
// replace the current ones).
func buildExtras(st *ctl.Manager, c *config.Config, marks bool) error {
	if t := c.Timeouts; t != nil {
		if err := st.SetTimeouts(seconds(t.TCP), seconds(t.TCPFin), seconds(t.UDP)); err != nil {
			return config.Errorf(c.Path, 0, "timeouts %v %v %v: %v", t.TCP, t.TCPFin, t.UDP, err)
		}
	}
	if marks {
		st.FlushMarks()
		for i, r := range c.Marks {
			if err := st.AddMark(r); err != nil {
				return config.Errorf(c.Path, 0, "mark rule %d: %v", i+1, err)
			}
		}
	}
	return nil
}

// seconds rounds a timeout up to whole seconds, as ipvsadm --set takes it.
func seconds(d time.Duration) int {
	if d <= 0 {
		return int(d / time.Second) // 0 keeps; a negative one is refused
	}
	return int((d + time.Second - 1) / time.Second)
}

// buildEffective stages the services of svcs with the real servers'
// health:
//
//   - a real server that is up has its weight (the configured one, or
//     what a dynamic MISC_CHECK set);
//   - one that is down is left out, or kept with weight 0 if Inhibit;
//   - while a service with a sorry server has no quorum, the sorry server
//     takes its place: every real server is left out (weight 0 if
//     Inhibit) and the sorry server is in with its weight (1 if none);
//     with quorum the sorry server is out, or in with weight 0 if
//     SorryInhibit.
func buildEffective(st *ctl.Manager, svcs []*svcState, path string) error {
	for _, s := range svcs {
		sc := s.conf
		if err := addService(st, path, sc); err != nil {
			return err
		}
		sorryOn := sc.Sorry != nil && !s.quorumUp
		dup := false
		for _, d := range s.dests {
			dc := d.conf.DestConfig
			sorry := isSorry(sc, d.key.addr, d.key.port)
			dup = dup || sorry
			switch {
			case sorry && sorryOn:
				dc = sorryConfig(sc)
			case d.up && !sorryOn:
				dc.Weight = d.weight()
			case d.conf.Inhibit:
				dc.Weight = 0
			default:
				continue
			}
			if err := addDest(st, path, sc, d.conf, dc); err != nil {
				return err
			}
		}
		if sc.Sorry != nil && !dup && (sorryOn || sc.SorryInhibit) {
			dc := sorryConfig(sc)
			if !sorryOn {
				dc.Weight = 0
			}
			if err := addDest(st, path, sc, sc.Sorry, dc); err != nil {
				return err
			}
		}
	}
	return nil
}

func addService(st *ctl.Manager, path string, s *config.Service) error {
	if err := st.AddService(s.ServiceConfig); err != nil {
		return config.Locate(path, s.Pos()).Errorf("virtual server %s: %v", serviceLabel(s), err)
	}
	for _, la := range s.LAddrs {
		if err := st.AddLAddr(s.ServiceID, la.Addr, la.Iface); err != nil {
			return config.Locate(path, s.Pos()).Errorf("virtual server %s: local address %v: %v", serviceLabel(s), la.Addr, err)
		}
	}
	return nil
}

func addDest(st *ctl.Manager, path string, s *config.Service, d *config.Dest, dc ctl.DestConfig) error {
	if err := st.AddDest(s.ServiceID, dc); err != nil {
		what := "real server"
		if d == s.Sorry {
			what = "sorry server"
		}
		return config.Locate(path, d.Pos(), s.Pos()).Errorf("%s %v of virtual server %s: %v", what,
			netip.AddrPortFrom(dc.Addr, dc.Port), serviceLabel(s), err)
	}
	return nil
}

// isSorry reports whether addr:port is the service's sorry server.
func isSorry(s *config.Service, addr netip.Addr, port uint16) bool {
	return s.Sorry != nil && s.Sorry.Addr.Unmap() == addr.Unmap() && s.Sorry.Port == port
}

// sorryConfig is the sorry server's settings while it is in: its own,
// with weight 1 unless it has one (keepalived gives it 1).
func sorryConfig(s *config.Service) ctl.DestConfig {
	dc := s.Sorry.DestConfig
	if dc.Weight <= 0 {
		dc.Weight = 1
	}
	return dc
}
