package status

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// ParseListenAddr checks a --status address: HOST:PORT where HOST is an IP
// address (IPv6 in brackets, optionally with a zone) or empty for every
// address of the host, and PORT a decimal number 1..65535. Host names are
// refused, so that starting the daemon never waits for a resolver. It
// returns the address in canonical form and whether it is a loopback
// address (the recommended place for the page).
func ParseListenAddr(s string) (addr string, loopback bool, err error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", false, fmt.Errorf("status address %q: want HOST:PORT, e.g. 127.0.0.1:9180 or [::1]:9180", s)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 || port[0] == '+' {
		return "", false, fmt.Errorf("status address %q: port %q: want a number 1..65535", s, port)
	}
	if host != "" {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return "", false, fmt.Errorf("status address %q: host %q is not an IP address (give one, or nothing for all addresses)", s, host)
		}
		a = a.Unmap()
		loopback = a.IsLoopback()
		host = a.String()
	}
	return net.JoinHostPort(host, strconv.FormatUint(p, 10)), loopback, nil
}

// Listen checks addr with ParseListenAddr and opens a TCP listener on it.
func Listen(addr string) (net.Listener, error) {
	a, _, err := ParseListenAddr(addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", a)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	return ln, nil
}
