package trace

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/gdirector/gdirector/vs"
)

// name renders dest i of the service ("dest #i" beyond the listed ones).
func (s *SchedInfo) name(i int) string {
	switch {
	case i < 0:
		return "-"
	case i < min(s.N, MaxDests):
		d := &s.Dests[i]
		return netip.AddrPortFrom(vs.AddrFrom16(d.Addr), d.Port).String()
	}
	return fmt.Sprintf("dest #%d", i)
}

func (s *SchedInfo) listed() []DestLoad { return s.Dests[:min(s.N, MaxDests)] }

// usable marks a dest the rr-like schedulers skip.
func usableNote(d *DestLoad) string {
	switch {
	case d.Overloaded:
		return " (overloaded)"
	case d.Weight <= 0:
		return " (quiesced)"
	}
	return ""
}

// record renders the decision.
func (s *SchedInfo) record() *SchedRecord {
	r := &SchedRecord{Name: s.Name}
	for i, d := range s.listed() {
		r.Dests = append(r.Dests, DestRecord{Addr: s.name(i), Weight: d.Weight, Active: d.Active, Inact: d.Inact,
			Overhead: d.Overhead(), Overloaded: d.Overloaded})
	}
	if s.Chosen >= 0 {
		r.Chosen = s.name(s.Chosen)
	}
	r.Explain = s.explain()
	return r
}

// each renders every listed dest with f, comma-separated, noting dests
// beyond MaxDests.
func (s *SchedInfo) each(f func(i int, d *DestLoad) string) string {
	ds := s.listed()
	parts := make([]string, 0, len(ds)+1)
	for i := range ds {
		parts = append(parts, s.name(i)+" "+f(i, &ds[i]))
	}
	if s.N > MaxDests {
		parts = append(parts, fmt.Sprintf("(%d more)", s.N-MaxDests))
	}
	if len(parts) == 0 {
		return "no dests"
	}
	return strings.Join(parts, ", ")
}

func ratio(n int64, w int32) string {
	if w <= 0 {
		return "-"
	}
	return fmt.Sprint(n / int64(w))
}

func (s *SchedInfo) choice() string {
	if s.Chosen < 0 {
		return "-> none"
	}
	return "-> " + s.name(s.Chosen)
}

// hashed renders the address (and port) a hashing scheduler hashed.
func (s *SchedInfo) hashed() string {
	a := vs.AddrFrom16(s.Key)
	if s.KeyPort != 0 {
		return netip.AddrPortFrom(a, s.KeyPort).String()
	}
	return a.String()
}

func (s *SchedInfo) weightedLoads() string {
	return s.each(func(_ int, d *DestLoad) string {
		return fmt.Sprintf("overhead %d/w%d=%s%s", d.Overhead(), d.Weight, ratio(d.Overhead(), d.Weight), overNote(d))
	})
}

func overNote(d *DestLoad) string {
	if d.Overloaded {
		return " (overloaded)"
	}
	return ""
}

// explain says how the scheduler decided, in the kernel's terms.
func (s *SchedInfo) explain() string {
	var body string
	switch s.Name {
	case "rr", "wrr":
		pos := "head of the list"
		if s.HasLast && s.Last >= 0 {
			pos = "after " + s.name(s.Last)
		}
		if s.Name == "wrr" {
			pos = fmt.Sprintf("cw %d (mw %d, di %d), %s", s.CW, s.MW, s.DI, pos)
		}
		body = pos + "; " + s.each(func(_ int, d *DestLoad) string { return fmt.Sprintf("w%d%s", d.Weight, usableNote(d)) })
	case "lc":
		body = s.each(func(_ int, d *DestLoad) string {
			return fmt.Sprintf("overhead %d%s", d.Overhead(), usableNote(d))
		})
	case "wlc":
		body = s.weightedLoads()
	case "sed", "nq":
		body = s.each(func(_ int, d *DestLoad) string {
			if d.Weight <= 0 {
				return fmt.Sprintf("(%d+1)/w%d=-%s", d.Active, d.Weight, usableNote(d))
			}
			return fmt.Sprintf("(%d+1)/w%d=%.2f%s", d.Active, d.Weight, float64(d.Active+1)/float64(d.Weight), usableNote(d))
		})
		if s.Name == "nq" {
			body += "; a dest with no active connection first"
		}
	case "sh", "dh", "mh":
		kind := "bucket"
		if s.Name == "mh" {
			kind = "slot"
		}
		if !s.HasSlot {
			body = "no table yet"
			break
		}
		body = fmt.Sprintf("%s -> %s %d of %d -> %s", s.hashed(), kind, s.Slot, s.Slots, s.name(s.SlotDest))
		if s.SlotDest != s.Chosen && s.Chosen >= 0 {
			body += " (unavailable), fallback"
		}
	case "lblc", "lblcr":
		dst := vs.AddrFrom16(s.Key).String()
		if !s.HasEntry {
			body = "no cache entry for " + dst + "; least overhead/weight: " + s.weightedLoads()
			break
		}
		set := make([]string, 0, s.EntryLen)
		for i := 0; i < s.EntryLen && i < len(s.Entry); i++ {
			set = append(set, s.name(s.Entry[i]))
		}
		body = fmt.Sprintf("cache %s -> %s, used %s ago", dst, strings.Join(set, ","), time.Duration(s.Age).Round(time.Millisecond))
		inEntry := false
		for i := 0; i < s.EntryLen && i < len(s.Entry); i++ {
			inEntry = inEntry || s.Entry[i] == s.Chosen
		}
		if !inEntry && s.Chosen >= 0 {
			body += "; cached dest overloaded or unavailable, least overhead/weight: " + s.weightedLoads()
		}
	case "fo":
		body = s.each(func(_ int, d *DestLoad) string { return fmt.Sprintf("w%d%s", d.Weight, overNote(d)) }) + "; the heaviest available"
	case "ovf":
		body = s.each(func(_ int, d *DestLoad) string {
			return fmt.Sprintf("w%d active %d%s", d.Weight, d.Active, overNote(d))
		}) + "; the heaviest whose active connections do not exceed its weight"
	case "twos":
		if !s.HasDraws {
			body = "no usable dest"
			break
		}
		draw := func(k int) string {
			i := s.Draw[k]
			if i < 0 || i >= min(s.N, MaxDests) {
				return s.name(i)
			}
			d := &s.Dests[i]
			return fmt.Sprintf("%s overhead %d/w%d=%s", s.name(i), d.Overhead(), d.Weight, ratio(d.Overhead(), d.Weight))
		}
		body = fmt.Sprintf("draws %d and %d of 0..%d -> %s, %s", s.R[0], s.R[1], s.Total, draw(0), draw(1))
	default:
		body = s.weightedLoads()
	}
	return s.Name + ": " + body + " " + s.choice()
}
