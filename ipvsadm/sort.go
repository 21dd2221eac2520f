package ipvsadm

import (
	"net/netip"

	"github.com/gdirector/gdirector/vs"
)

// ipvsadm sorts with qsort and libipvs's comparison functions, which
// subtract unsigned 32-bit values and read the difference as an int: two
// addresses more than 2^31 apart compare "the wrong way", and the order is
// then whatever glibc's qsort makes of it. glibc's qsort is a top-down
// merge sort; mergeSort reproduces it, and the comparisons below reproduce
// libipvs's arithmetic, so listings come out in ipvsadm's order even then.

// mergeSort returns a sorted copy of s: halves of n/2 and n-n/2 sorted
// recursively, merged taking from the left while cmp(left, right) <= 0.
func mergeSort[T any](s []T, cmp func(a, b T) int) []T {
	out := append([]T(nil), s...)
	tmp := make([]T, len(s))
	msort(out, tmp, cmp)
	return out
}

func msort[T any](b, tmp []T, cmp func(a, b T) int) {
	n := len(b)
	if n <= 1 {
		return
	}
	n1 := n / 2
	b1, b2 := b[:n1], b[n1:]
	msort(b1, tmp, cmp)
	msort(b2, tmp, cmp)
	i, j, k := 0, 0, 0
	for i < len(b1) && j < len(b2) {
		if cmp(b1[i], b2[j]) <= 0 {
			tmp[k] = b1[i]
			i++
		} else {
			tmp[k] = b2[j]
			j++
		}
		k++
	}
	k += copy(tmp[k:], b1[i:])
	copy(b, tmp[:k]) // the rest of b2 is already in place
}

// words returns an address as the four 32-bit words of the kernel's
// union nf_inet_addr (an IPv4 address in the first word).
func words(a netip.Addr) [4]uint32 {
	var w [4]uint32
	if a.Is4() {
		b := a.As4()
		w[0] = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		return w
	}
	b := a.As16()
	for i := range w {
		w[i] = uint32(b[4*i])<<24 | uint32(b[4*i+1])<<16 | uint32(b[4*i+2])<<8 | uint32(b[4*i+3])
	}
	return w
}

// diff32 is an unsigned 32-bit difference read as an int.
func diff32(a, b uint32) int { return int(int32(a - b)) }

func compareAddrs(v6 bool, a, b netip.Addr) int {
	wa, wb := words(a), words(b)
	if !v6 {
		return diff32(wa[0], wb[0])
	}
	r := 0
	for i := 0; r == 0 && i < 4; i++ {
		r = diff32(wa[i], wb[i])
	}
	return r
}

func family(v6 bool) int {
	if v6 {
		return afInet6
	}
	return afInet
}

// compareServices is ipvs_cmp_services: mark, family, protocol, address,
// port.
func compareServices(a, b *vs.Service) int {
	if r := diff32(a.FwMark, b.FwMark); r != 0 {
		return r
	}
	if r := family(a.IPv6) - family(b.IPv6); r != 0 {
		return r
	}
	if r := int(a.Proto) - int(b.Proto); r != 0 {
		return r
	}
	if a.FwMark == 0 {
		if r := compareAddrs(a.IPv6, a.Addr, b.Addr); r != 0 {
			return r
		}
	}
	return int(a.Port) - int(b.Port)
}

// compareDests is ipvs_cmp_dests: address (as the first dest's family),
// then port.
func compareDests(a, b *vs.Dest) int {
	if r := compareAddrs(a.Addr.Is6(), a.Addr, b.Addr); r != 0 {
		return r
	}
	return int(a.Port) - int(b.Port)
}
