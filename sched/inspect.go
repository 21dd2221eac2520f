package sched

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/gdirector/gdirector/vs"
)

// Inspector is implemented by the schedulers that keep state between picks
// (rr, wrr, sh, dh, mh, lblc, lblcr), for teaching and debugging: it shows
// what the kernel keeps in svc->sched_data. Inspect takes the scheduler's
// lock (or reads its published table) and copies, so it is safe to call at
// any time; it allocates and is not meant for the data path.
type Inspector interface {
	Inspect() State
}

// State is a copy of a scheduler's internal state in plain values. Only
// the fields that apply to the scheduler are set.
type State struct {
	// Name is the scheduler's name.
	Name string
	// Vars are the scheduler's scalar variables, in a fixed order per
	// scheduler: wrr's cw, mw and di; mh's gcd and rshift; lblc and
	// lblcr's entry count, expiry counter and rover, …
	Vars []Var
	// HasLast says whether Last is meaningful (rr, wrr).
	HasLast bool
	// Last is the position of rr and wrr: the dest picked last, nil for
	// the head of the list (the next walk starts at index 0).
	Last *vs.Dest
	// Table is the bucket table of sh and dh (256 buckets) or the lookup
	// table of mh (4093 slots), indexed by hash value; nil entries are
	// empty.
	Table []*vs.Dest
	// Cache lists the lblc and lblcr cache entries, bucket by bucket and
	// in each bucket from the head.
	Cache []CacheEntry
	// Now is the scheduler's clock reading when the state was taken
	// (lblc, lblcr), the reference for the ages of the cache entries.
	Now int64
}

// Var is one named scalar of a scheduler's state.
type Var struct {
	Name  string
	Value int64
}

// CacheEntry is one lblc or lblcr cache entry: the packets' destination
// address it is for and the dest (lblc) or dest set (lblcr) it maps to.
type CacheEntry struct {
	Bucket int
	Addr   netip.Addr
	// Dests holds lblc's one dest, or lblcr's set in the kernel's list
	// order (the most recently added first).
	Dests []*vs.Dest
	// LastUse is when the entry was last looked up, on the scheduler's
	// clock (nanoseconds).
	LastUse int64
	// LastMod is when lblcr's set last changed (unused by lblc).
	LastMod int64
}

// Var returns the value of the named variable and whether it exists.
func (st State) Var(name string) (int64, bool) {
	for _, v := range st.Vars {
		if v.Name == name {
			return v.Value, true
		}
	}
	return 0, false
}

// destString names a dest as ipvsadm does: address:port, IPv6 bracketed.
func destString(d *vs.Dest) string {
	if d == nil {
		return "-"
	}
	return netip.AddrPortFrom(d.Addr, d.Port).String()
}

// String renders the state as text, one item per line: the variables,
// the position, the table as runs of consecutive slots that map to the
// same dest followed by each dest's share of the slots, and the cache
// entries with their ages.
func (st State) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scheduler %s\n", st.Name)
	for _, v := range st.Vars {
		fmt.Fprintf(&b, "%s %d\n", v.Name, v.Value)
	}
	if st.HasLast {
		if st.Last == nil {
			b.WriteString("last - (head of the list)\n")
		} else {
			fmt.Fprintf(&b, "last %s\n", destString(st.Last))
		}
	}
	if st.Table != nil {
		fmt.Fprintf(&b, "table %d slots\n", len(st.Table))
		share := map[*vs.Dest]int{}
		var order []*vs.Dest
		for i := 0; i < len(st.Table); {
			d := st.Table[i]
			j := i + 1
			for j < len(st.Table) && st.Table[j] == d {
				j++
			}
			if j-i == 1 {
				fmt.Fprintf(&b, "  %d %s\n", i, destString(d))
			} else {
				fmt.Fprintf(&b, "  %d-%d %s\n", i, j-1, destString(d))
			}
			if _, ok := share[d]; !ok {
				order = append(order, d)
			}
			share[d] += j - i
			i = j
		}
		for _, d := range order {
			fmt.Fprintf(&b, "share %s %d\n", destString(d), share[d])
		}
	}
	if st.Cache != nil {
		fmt.Fprintf(&b, "cache %d entries\n", len(st.Cache))
		for _, e := range st.Cache {
			ds := make([]string, len(e.Dests))
			for i, d := range e.Dests {
				ds[i] = destString(d)
			}
			fmt.Fprintf(&b, "  [%d] %s -> %s used %s ago", e.Bucket, e.Addr,
				strings.Join(ds, ","), time.Duration(st.Now-e.LastUse))
			if st.Name == "lblcr" {
				fmt.Fprintf(&b, " set changed %s ago", time.Duration(st.Now-e.LastMod))
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}
