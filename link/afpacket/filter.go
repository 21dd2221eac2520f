package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"golang.org/x/net/bpf"
)

// MaxFilterLen is the kernel's limit on the length of a classic BPF
// program (BPF_MAXINSNS).
const MaxFilterLen = 4096

// acceptLen is what the filter returns to accept a frame: the number of
// bytes to keep, larger than any frame so nothing is cut short.
const acceptLen = 1 << 18

// ErrFilterTooLong is returned by BuildFilter when the program would exceed
// MaxFilterLen instructions.
var ErrFilterTooLong = errors.New("afpacket: BPF filter longer than 4096 instructions")

// Offsets in an untagged Ethernet frame (the kernel removes the VLAN tag
// before a packet socket's filter runs).
const (
	offEtherType  = 12
	offIPv4Src    = ethHeaderLen + 12
	offIPv4Dst    = ethHeaderLen + 16
	offIPv6Next   = ethHeaderLen + 6
	offIPv6Src    = ethHeaderLen + 8
	offIPv6Dst    = ethHeaderLen + 24
	offICMPv6Type = ethHeaderLen + 40
	leafChunk     = 200 // compares sharing one "ret accept"; jt must stay <= 255
)

// BuildFilter returns a classic BPF program for SO_ATTACH_FILTER that
// accepts every ARP frame, every IPv4 or IPv6 frame whose destination is in
// dsts or whose source is in srcs, and IPv6 neighbour solicitations and
// advertisements (ICMPv6 types 135 and 136 directly after the fixed
// header, so that NDP can be answered and resolved in user space); every
// other frame is dropped. Lists may be empty or hold hundreds of
// addresses: addresses sharing leading 32-bit words are compared as a
// tree, so an address costs about one instruction. IPv4-mapped IPv6
// addresses count as IPv4; zones are ignored. ErrFilterTooLong is returned
// if the program would exceed MaxFilterLen instructions.
func BuildFilter(dsts, srcs []netip.Addr) ([]bpf.RawInstruction, error) {
	var d4, d6, s4, s6 [][]uint32
	var err error
	if d4, d6, err = splitAddrs(dsts); err != nil {
		return nil, err
	}
	if s4, s6, err = splitAddrs(srcs); err != nil {
		return nil, err
	}

	var a assembler
	lv4, lv6 := a.label(), a.label()
	a.emit(bpf.LoadAbsolute{Off: offEtherType, Size: 2})
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeARP, SkipFalse: 1})
	a.emit(bpf.RetConstant{Val: acceptLen})
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeIPv4, SkipTrue: 1})
	a.emit(bpf.Jump{Skip: 1})
	a.jump(lv4)
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeIPv6, SkipTrue: 1})
	a.emit(bpf.RetConstant{Val: 0})
	a.jump(lv6)

	a.mark(lv4)
	a.list(d4, 0, offIPv4Dst)
	a.list(s4, 0, offIPv4Src)
	a.emit(bpf.RetConstant{Val: 0})

	a.mark(lv6)
	a.emit(bpf.LoadAbsolute{Off: offIPv6Next, Size: 1})
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoICMPv6, SkipFalse: 4})
	a.emit(bpf.LoadAbsolute{Off: offICMPv6Type, Size: 1})
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 135, SkipTrue: 1})
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 136, SkipFalse: 1})
	a.emit(bpf.RetConstant{Val: acceptLen})
	a.list(d6, 0, offIPv6Dst)
	a.list(s6, 0, offIPv6Src)
	a.emit(bpf.RetConstant{Val: 0})

	if len(a.ins) > MaxFilterLen {
		return nil, fmt.Errorf("%w (%d instructions for %d+%d addresses)",
			ErrFilterTooLong, len(a.ins), len(dsts), len(srcs))
	}
	a.resolve()
	return bpf.Assemble(a.ins)
}

// splitAddrs sorts, deduplicates and splits addresses into IPv4 and IPv6
// lists of big-endian 32-bit words.
func splitAddrs(addrs []netip.Addr) (v4, v6 [][]uint32, err error) {
	for _, ad := range addrs {
		if !ad.IsValid() {
			return nil, nil, errors.New("afpacket: invalid address in filter list")
		}
		ad = ad.Unmap().WithZone("")
		b := ad.AsSlice()
		w := make([]uint32, len(b)/4)
		for i := range w {
			w[i] = binary.BigEndian.Uint32(b[4*i:])
		}
		if ad.Is4() {
			v4 = append(v4, w)
		} else {
			v6 = append(v6, w)
		}
	}
	for _, l := range []*[][]uint32{&v4, &v6} {
		slices.SortFunc(*l, slices.Compare[[]uint32])
		*l = slices.CompactFunc(*l, slices.Equal[[]uint32])
	}
	return v4, v6, nil
}

// assembler collects instructions with forward jumps to labels; every long
// jump is an unconditional Jump (32-bit offset), conditional jumps only
// skip a few instructions.
type assembler struct {
	ins    []bpf.Instruction
	labels []int
	fixups []fixup
}

type fixup struct{ at, label int }

func (a *assembler) emit(i bpf.Instruction) { a.ins = append(a.ins, i) }

func (a *assembler) label() int {
	a.labels = append(a.labels, -1)
	return len(a.labels) - 1
}

func (a *assembler) mark(l int) { a.labels[l] = len(a.ins) }

func (a *assembler) jump(l int) {
	a.fixups = append(a.fixups, fixup{at: len(a.ins), label: l})
	a.emit(bpf.Jump{})
}

func (a *assembler) resolve() {
	for _, f := range a.fixups {
		a.ins[f.at] = bpf.Jump{Skip: uint32(a.labels[f.label] - f.at - 1)}
	}
}

// list emits code that returns acceptLen if the address at off equals one
// of addrs (sorted, unique, all of the same length) and falls through
// otherwise. Word level of the addresses is compared; addresses are
// grouped by that word and the groups compared as a tree.
func (a *assembler) list(addrs [][]uint32, level int, off uint32) {
	if len(addrs) == 0 {
		return
	}
	a.emit(bpf.LoadAbsolute{Off: off + 4*uint32(level), Size: 4})
	if level == len(addrs[0])-1 {
		// Leaf: the words are unique here. Chunks of compares that jump
		// to a shared accept right after them.
		for start := 0; start < len(addrs); start += leafChunk {
			chunk := addrs[start:min(start+leafChunk, len(addrs))]
			for i, w := range chunk {
				a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: w[level], SkipTrue: uint8(len(chunk) - i)})
			}
			a.emit(bpf.Jump{Skip: 1})
			a.emit(bpf.RetConstant{Val: acceptLen})
		}
		return
	}
	done := a.label()
	for start := 0; start < len(addrs); {
		end := start + 1
		for end < len(addrs) && addrs[end][level] == addrs[start][level] {
			end++
		}
		next := a.label()
		if start > 0 {
			a.emit(bpf.LoadAbsolute{Off: off + 4*uint32(level), Size: 4})
		}
		a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: addrs[start][level], SkipTrue: 1})
		a.jump(next)
		a.list(addrs[start:end], level+1, off)
		a.jump(done) // deeper words differed: no other group can match
		a.mark(next)
		start = end
	}
	a.mark(done)
}
