package nsutil

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Why the lab turns offloads off.
//
// gdirector forwards in userspace from AF_PACKET sockets. With TSO/GSO on,
// a sending kernel hands the veth 64 KB TCP "super-frames" that are split
// only when (if ever) they reach real hardware; with GRO on, a receiving
// kernel glues consecutive segments back into such super-frames before the
// packet tap. Either way the director would read frames far larger than the
// MTU that it cannot write back out as they are (a packet socket sends
// exactly one wire frame). UFO is the UDP counterpart on old kernels.
// TX checksum offload stays ON on purpose: frames then arrive with partial
// checksums (TP_STATUS_CSUMNOTREADY), which the director completes itself,
// and that is the situation it meets on real veth/virtio hosts.

// ethtoolValue is struct ethtool_value from <linux/ethtool.h>.
type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ifreqData is struct ifreq with the union used as a data pointer
// (ifr_data); the padding keeps it at least sizeof(struct ifreq).
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24]byte
}

// ethtool issues one SIOCETHTOOL ethtool_value command on fd.
func ethtool(fd int, ifname string, cmd, data uint32) (uint32, error) {
	// Both structs live on the heap (which does not move) and are kept
	// alive across the call: the kernel follows ifr.data.
	ifr := new(ifreqData)
	copy(ifr.name[:unix.IFNAMSIZ-1], ifname)
	val := &ethtoolValue{cmd: cmd, data: data}
	ifr.data = unsafe.Pointer(val)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(unix.SIOCETHTOOL), uintptr(unsafe.Pointer(ifr)))
	runtime.KeepAlive(ifr)
	runtime.KeepAlive(val)
	if errno != 0 {
		return 0, errno
	}
	return val.data, nil
}

// Offload is the state of the offloads the lab cares about.
type Offload struct {
	TSO, GSO, GRO, TxChecksum bool
}

// offloadCmds lists (name, get, set) for the offloads DisableOffloads turns
// off. UFO is handled separately: kernels since 4.14 no longer have it.
var offloadCmds = []struct {
	name     string
	get, set uint32
}{
	{"tso", unix.ETHTOOL_GTSO, unix.ETHTOOL_STSO},
	{"gso", unix.ETHTOOL_GGSO, unix.ETHTOOL_SGSO},
	{"gro", unix.ETHTOOL_GGRO, unix.ETHTOOL_SGRO},
}

func withIoctlSocket(ns string, fn func(fd int) error) error {
	return Do(ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return fn(fd)
	})
}

func checkIfname(ifname string) error {
	if ifname == "" || len(ifname) >= unix.IFNAMSIZ {
		return fmt.Errorf("nsutil: invalid interface name %q", ifname)
	}
	return nil
}

// DisableOffloads turns TSO, GSO and GRO (and UFO where the kernel still has
// it) off on ifname inside ns, leaving TX checksum offload on. A feature the
// driver cannot change is accepted when it already reads back as off.
func DisableOffloads(ns, ifname string) error {
	if err := checkIfname(ifname); err != nil {
		return err
	}
	return withIoctlSocket(ns, func(fd int) error {
		var errs []error
		for _, c := range offloadCmds {
			_, setErr := ethtool(fd, ifname, c.set, 0)
			on, getErr := ethtool(fd, ifname, c.get, 0)
			switch {
			case getErr != nil:
				errs = append(errs, fmt.Errorf("%s: read back: %w (set: %v)", c.name, getErr, setErr))
			case on != 0:
				errs = append(errs, fmt.Errorf("%s still on: %v", c.name, setErr))
			}
		}
		// UFO: best effort, absent (EOPNOTSUPP) on current kernels.
		_, _ = ethtool(fd, ifname, unix.ETHTOOL_SUFO, 0)
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("nsutil: disable offloads on %s in %q: %w", ifname, ns, err)
		}
		return nil
	})
}

// Offloads reads the offload state of ifname inside ns.
func Offloads(ns, ifname string) (Offload, error) {
	if err := checkIfname(ifname); err != nil {
		return Offload{}, err
	}
	var o Offload
	err := withIoctlSocket(ns, func(fd int) error {
		read := func(cmd uint32, dst *bool) error {
			v, err := ethtool(fd, ifname, cmd, 0)
			*dst = v != 0
			return err
		}
		return errors.Join(
			read(unix.ETHTOOL_GTSO, &o.TSO),
			read(unix.ETHTOOL_GGSO, &o.GSO),
			read(unix.ETHTOOL_GGRO, &o.GRO),
			read(unix.ETHTOOL_GTXCSUM, &o.TxChecksum),
		)
	})
	if err != nil {
		return o, fmt.Errorf("nsutil: offloads of %s in %q: %w", ifname, ns, err)
	}
	return o, nil
}
