package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/gdirector/gdirector/config"
)

// Defaults for settings a configuration leaves at zero (keepalived's).
const (
	// DefaultInterval is the time between checks when Check.Interval is 0
	// (keepalived's delay_loop default).
	DefaultInterval = 60 * time.Second
	// DefaultTimeout bounds one attempt when Check.Timeout is 0
	// (keepalived's connect_timeout default). A MISC_CHECK without a
	// timeout gets its interval instead, as keepalived gives it.
	DefaultTimeout = 5 * time.Second
	// DefaultNotifyTimeout bounds a notify or quorum command.
	DefaultNotifyTimeout = 30 * time.Second
	// DefaultShutdownTimeout bounds all the commands Run still runs when
	// its context ends (pending notifications and omega's).
	DefaultShutdownTimeout = 5 * time.Second
)

// maxBody is the largest HTTP body read for a digest or a match.
const maxBody = 8 << 20

// Result is the outcome of one attempt of a check.
type Result struct {
	// Err is why the attempt failed; nil means it passed.
	Err error
	// Weight, when HasWeight, is the weight a dynamic MISC_CHECK set
	// (exit status - 2); a passing attempt without it restores the
	// configured weight.
	Weight    int32
	HasWeight bool
}

// prober runs attempts of one check against one target.
type prober interface {
	probe(ctx context.Context) Result
}

// spec is a check with everything it needs resolved: target, timings and
// the defaults.
type spec struct {
	check    config.Check
	target   netip.AddrPort // what is checked
	interval time.Duration
	timeout  time.Duration
	rise     int
	env      []string // the environment of a MISC_CHECK command
}

// resolve fills a check's defaults against the real server it checks.
func resolve(c config.Check, dest netip.AddrPort) spec {
	addr, port := c.Target.Addr(), c.Target.Port()
	if !addr.IsValid() {
		addr = dest.Addr()
	}
	if port == 0 {
		port = dest.Port()
	}
	s := spec{check: c, target: netip.AddrPortFrom(addr.Unmap().WithZone(""), port),
		interval: c.Interval, timeout: c.Timeout, rise: max(c.Rise, 1)}
	if s.interval <= 0 {
		s.interval = DefaultInterval
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
		if c.Kind == config.CheckMisc {
			s.timeout = s.interval
		}
	}
	return s
}

// needsPort reports whether a kind of check talks to a port.
func needsPort(k config.CheckKind) bool {
	switch k {
	case config.CheckPing, config.CheckMisc, config.CheckOn, config.CheckOff:
		return false
	}
	return true
}

// newProber validates a resolved check and builds its prober. run runs
// MISC_CHECK commands; env describes the check to them.
func newProber(s spec, run RunFunc, env []string) (prober, error) {
	c := &s.check
	switch {
	case c.Interval < 0 || c.Timeout < 0 || c.DelayBeforeRetry < 0 || c.Warmup < 0:
		return nil, errors.New("negative interval, timeout, delay before retry or warmup")
	case c.Retry < 0 || c.Rise < 0:
		return nil, errors.New("negative retry or rise count")
	case needsPort(c.Kind) && s.target.Port() == 0:
		return nil, errors.New("no port to check (set connect_port / checkport)")
	case c.BindTo.IsValid() && c.BindTo.Unmap().Is4() != s.target.Addr().Is4():
		return nil, fmt.Errorf("bindto %v and the checked address %v are of different families", c.BindTo, s.target.Addr())
	}
	switch c.Kind {
	case config.CheckTCP:
		return &tcpProber{target: s.target, bind: c.BindTo}, nil
	case config.CheckHTTP, config.CheckHTTPS:
		return newHTTPProber(s)
	case config.CheckUDP:
		return newUDPProber(s)
	case config.CheckPing:
		return newPingProber(s), nil
	case config.CheckDNS:
		return newDNSProber(s)
	case config.CheckSMTP:
		return newSMTPProber(s), nil
	case config.CheckMisc:
		return newMiscProber(s, run, env)
	case config.CheckOn:
		return fixedProber{}, nil
	case config.CheckOff:
		return fixedProber{err: errors.New("checktype off")}, nil
	}
	return nil, fmt.Errorf("unknown check kind %d", int(c.Kind))
}

// fixedProber is ldirectord's checktype on and off.
type fixedProber struct{ err error }

func (f fixedProber) probe(context.Context) Result { return Result{Err: f.err} }

// dialer returns a dialer with the check's source address.
func dialer(bind netip.Addr, network string) *net.Dialer {
	d := &net.Dialer{}
	if bind.IsValid() {
		ip := bind.Unmap().AsSlice()
		switch network {
		case "tcp":
			d.LocalAddr = &net.TCPAddr{IP: ip}
		case "udp":
			d.LocalAddr = &net.UDPAddr{IP: ip}
		}
	}
	return d
}

// tcpProber is TCP_CHECK: a connection that opens is a pass.
type tcpProber struct {
	target netip.AddrPort
	bind   netip.Addr
}

func (p *tcpProber) probe(ctx context.Context) Result {
	conn, err := dialer(p.bind, "tcp").DialContext(ctx, "tcp", p.target.String())
	if err != nil {
		return Result{Err: err}
	}
	conn.Close()
	return Result{}
}

// connDeadline makes conn follow ctx: its deadline, and closing on
// cancellation. The returned function undoes the latter.
func connDeadline(ctx context.Context, conn net.Conn) (stop func() bool) {
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	return context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
}

// errTimedOut is an attempt that ran out of time.
var errTimedOut = errors.New("timed out")

// ctxErr words an error of an attempt: cancellation as the context's
// error, running out of time (the context's deadline, or the socket
// deadline it set, which may expire first) as errTimedOut.
func ctxErr(ctx context.Context, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return ctx.Err()
	case ctx.Err() != nil || isTimeout(err):
		return errTimedOut
	}
	return err
}
