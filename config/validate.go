package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

// Validate checks c the way the daemon applies it, on a scratch Manager
// that nothing reads: timeouts, firewall-mark rules, then each service
// with its FullNAT local addresses and real servers (every one up), and
// each sorry server as the only real server of its service. checkDest is
// the data plane's own restriction (ctl.Config.CheckDest; nil = none).
// The first failure is returned naming the file and line of the item
// (Locate), with ipvsadm's message ("gdirector.yaml:14: real server
// 203.0.113.1:80: Destination already exists").
//
// It also checks what the health engine needs of every check: a known
// kind and non-negative timings.
//
// The operations run on ctl.Manager.Replace stages that are dropped
// afterwards: a stage builds no table per operation. Services interact
// only through their keys (ipvsadm refuses a second service with the same
// key; every other check concerns one service, its local addresses and
// real servers), so they are staged validateChunk at a time, with the
// keys checked across chunks here: a Manager finds a service by a scan
// of its services, and one stage of n services would cost n²/2 key
// comparisons (0.3 s for 10,000 services, 1.1 s for 20,000). Validate is
// linear in the size of c.
func Validate(c *Config, checkDest func(ctl.DestConfig) error) error {
	if c == nil {
		return fmt.Errorf("no configuration")
	}
	scratch := ctl.NewManager(ctl.Config{CheckDest: checkDest})
	err := dropStage(scratch, func(st *ctl.Manager) error {
		if t := c.Timeouts; t != nil {
			for _, d := range []time.Duration{t.TCP, t.TCPFin, t.UDP} {
				if d < 0 || d%time.Second != 0 {
					return Errorf(c.Path, 0, "timeouts: %v is not a whole number of seconds", d)
				}
			}
			if err := st.SetTimeouts(int(t.TCP/time.Second), int(t.TCPFin/time.Second), int(t.UDP/time.Second)); err != nil {
				return Errorf(c.Path, 0, "timeouts (%v, %v, %v): %v", t.TCP, t.TCPFin, t.UDP, err)
			}
		}
		for _, r := range c.Marks {
			if err := st.AddMark(r); err != nil {
				return Errorf(c.Path, 0, "mark rule %s: %v", r.String(), err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	seen := make(map[vs.ServiceKey]bool, len(c.Services))
	for lo := 0; lo < len(c.Services); lo += validateChunk {
		chunk := c.Services[lo:min(lo+validateChunk, len(c.Services))]
		err := dropStage(scratch, func(st *ctl.Manager) error {
			for i := range chunk {
				if err := validService(st, c.Path, &chunk[i], seen, checkDest); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// validateChunk is how many services Validate stages together.
const validateChunk = 256

// errValid ends a validation stage that found nothing wrong.
var errValid = errors.New("valid")

// dropStage runs fn on a Replace stage of m that is dropped afterwards,
// and returns fn's error.
func dropStage(m *ctl.Manager, fn func(st *ctl.Manager) error) error {
	_, err := m.Replace(func(st *ctl.Manager) error {
		if err := fn(st); err != nil {
			return err
		}
		return errValid
	})
	if err == errValid {
		return nil
	}
	return err
}

// validService stages s on st; seen has the keys of the services staged
// before (on st or on earlier stages) and gets s's.
func validService(st *ctl.Manager, path string, s *Service, seen map[vs.ServiceKey]bool, checkDest func(ctl.DestConfig) error) error {
	at := Locate(path, s.Pos())
	err := st.AddService(s.ServiceConfig)
	if err == nil && seen[s.Key()] {
		err = ctl.ErrServiceExists // staged on an earlier stage
	}
	if err != nil {
		return at.Errorf("service %s: %v", s.label(), err)
	}
	seen[s.Key()] = true
	for _, la := range s.LAddrs {
		if err := st.AddLAddr(s.ServiceID, la.Addr, la.Iface); err != nil {
			return at.Errorf("service %s: local address %s: %v", s.label(), la.Addr, err)
		}
	}
	for j := range s.Dests {
		d := &s.Dests[j]
		if err := st.AddDest(s.ServiceID, d.DestConfig); err != nil {
			return Locate(path, d.Pos(), s.Pos()).Errorf("real server %s: %v", destLabel(d.DestConfig), err)
		}
		for k := range d.Checks {
			ck := &d.Checks[k]
			if err := validCheck(ck); err != nil {
				return Locate(path, ck.Pos(), d.Pos(), s.Pos()).Errorf("real server %s: %v", destLabel(d.DestConfig), err)
			}
		}
	}
	if s.Sorry != nil {
		// The sorry server as the only real server of its service.
		err := dropStage(ctl.NewManager(ctl.Config{CheckDest: checkDest}), func(alone *ctl.Manager) error {
			if err := alone.AddService(s.ServiceConfig); err != nil {
				return err
			}
			return alone.AddDest(s.ServiceID, s.Sorry.DestConfig)
		})
		if err != nil {
			return Locate(path, s.Sorry.Pos(), s.Pos()).Errorf("sorry server %s: %v", destLabel(s.Sorry.DestConfig), err)
		}
	}
	if s.Quorum < 0 || s.Hysteresis < 0 {
		return at.Errorf("service %s: negative quorum or hysteresis", s.label())
	}
	return nil
}

// validCheck checks what any check needs.
func validCheck(c *Check) error {
	if c.Kind < CheckTCP || c.Kind > CheckOff {
		return fmt.Errorf("unknown check kind %d", int(c.Kind))
	}
	if c.Interval < 0 || c.Timeout < 0 || c.DelayBeforeRetry < 0 || c.Warmup < 0 || c.Retry < 0 || c.Rise < 0 {
		return fmt.Errorf("%v: negative timing or count", c.Kind)
	}
	if c.Kind == CheckMisc && c.Command == "" {
		return fmt.Errorf("%v without a command", c.Kind)
	}
	return nil
}

// label names a service in messages.
func (s *Service) label() string {
	if s.Name != "" {
		return s.Name
	}
	if s.FwMark != 0 {
		return fmt.Sprintf("fwmark %d", s.FwMark)
	}
	return strings.ToLower(s.Proto.String()) + "/" + destLabel(ctl.DestConfig{Addr: s.Addr, Port: s.Port})
}

func destLabel(d ctl.DestConfig) string {
	if d.Addr.Is6() {
		return fmt.Sprintf("[%v]:%d", d.Addr, d.Port)
	}
	return fmt.Sprintf("%v:%d", d.Addr, d.Port)
}

// Summary counts what a configuration holds.
type Summary struct {
	Services, RealServers, Checks, SorryServers, LocalAddrs, Marks int
}

// Summarize counts c's services, real servers, checks, sorry servers,
// FullNAT local addresses and mark rules.
func (c *Config) Summarize() Summary {
	sum := Summary{Services: len(c.Services), Marks: len(c.Marks)}
	for i := range c.Services {
		s := &c.Services[i]
		sum.RealServers += len(s.Dests)
		sum.LocalAddrs += len(s.LAddrs)
		if s.Sorry != nil {
			sum.SorryServers++
		}
		for j := range s.Dests {
			sum.Checks += len(s.Dests[j].Checks)
		}
	}
	return sum
}
