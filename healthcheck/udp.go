package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// maxUDPPayload is the largest payload one UDP datagram carries.
const maxUDPPayload = 65507

// defaultUDPPayload is what UDP_CHECK sends when the check has no payload
// (Check.Payload nil): 32 bytes, as many as keepalived sends then. Its
// content is a fixed text that names the sender, so that a probe is
// recognisable in a capture and an echo server's answer is predictable;
// keepalived, too, sends a fixed text of its own (older releases sent 32
// bytes of whatever was on their stack). A non-nil empty Payload sends
// an empty datagram.
var defaultUDPPayload = []byte("gdirector UDP_CHECK probe ......")

// udpProber is UDP_CHECK: it sends the payload from a connected socket,
// so that an ICMP port unreachable comes back as ECONNREFUSED, which
// fails the check. With RequireReply only an answer that passes the reply
// checks (see replyOK) passes it; otherwise any answer does, and so does
// silence until the timeout (the reply settings are then ignored, as
// keepalived ignores them without require_reply).
type udpProber struct {
	target       netip.AddrPort
	bind         netip.Addr
	payload      []byte
	requireReply bool
	reply, mask  []byte
	minLen       int
	maxLen       int // 0 = no limit
}

func newUDPProber(s spec) (*udpProber, error) {
	c := &s.check
	switch {
	case len(c.Payload) > maxUDPPayload:
		return nil, fmt.Errorf("udp payload of %d bytes is longer than %d", len(c.Payload), maxUDPPayload)
	case c.MinReplyLen < 0 || c.MaxReplyLen < 0:
		return nil, errors.New("negative reply length")
	case c.RequireReply && c.MaxReplyLen > 0 && c.MinReplyLen > c.MaxReplyLen:
		return nil, fmt.Errorf("minimum reply length %d is above the maximum %d: the check could never pass", c.MinReplyLen, c.MaxReplyLen)
	case c.RequireReply && c.ReplyMask != nil && len(c.ReplyMask) != len(c.Reply):
		return nil, fmt.Errorf("reply mask of %d bytes for a reply of %d", len(c.ReplyMask), len(c.Reply))
	}
	p := &udpProber{target: s.target, bind: c.BindTo, payload: c.Payload, requireReply: c.RequireReply}
	if p.payload == nil {
		p.payload = defaultUDPPayload
	}
	if c.RequireReply {
		p.reply, p.mask, p.minLen, p.maxLen = c.Reply, c.ReplyMask, c.MinReplyLen, c.MaxReplyLen
	}
	return p, nil
}

func (p *udpProber) probe(ctx context.Context) Result {
	conn, err := dialer(p.bind, "udp").DialContext(ctx, "udp", p.target.String())
	if err != nil {
		return Result{Err: err}
	}
	defer conn.Close()
	stop := connDeadline(ctx, conn)
	defer stop()
	if _, err := conn.Write(p.payload); err != nil {
		return Result{Err: udpErr(ctx, err)}
	}
	// One byte more than the longest acceptable answer tells a longer
	// one (the kernel truncates a datagram to the buffer).
	size := 1
	switch {
	case !p.requireReply:
	case p.maxLen > 0:
		size = p.maxLen + 1
	default:
		size = maxUDPPayload + 1
	}
	buf := make([]byte, size)
	n, err := conn.Read(buf)
	switch {
	case err == nil && p.requireReply:
		if err := p.replyOK(buf[:n]); err != nil {
			return Result{Err: err}
		}
		return Result{}
	case err == nil:
		return Result{}
	case errors.Is(err, syscall.ECONNREFUSED):
		return Result{Err: errors.New("port unreachable")}
	case isTimeout(err) && errors.Is(ctx.Err(), context.Canceled):
		return Result{Err: ctx.Err()}
	case isTimeout(err) && !p.requireReply:
		return Result{} // silence until the timeout is consent
	case isTimeout(err):
		return Result{Err: errors.New("no reply")}
	}
	return Result{Err: udpErr(ctx, err)}
}

// replyOK applies keepalived's reply checks (check_udp_reply) to an
// answer: its length must be within minLen..maxLen (maxLen 0: no limit),
// and its first min(len(answer), len(reply)) bytes must equal reply's in
// the bits mask sets (every bit without a mask). A shorter answer is
// compared only as far as it goes, as keepalived does; minLen is what
// requires more.
func (p *udpProber) replyOK(got []byte) error {
	if len(got) < p.minLen {
		return fmt.Errorf("reply of %d bytes, want at least %d", len(got), p.minLen)
	}
	if p.maxLen > 0 && len(got) > p.maxLen {
		return fmt.Errorf("reply longer than %d bytes", p.maxLen)
	}
	for i := range min(len(got), len(p.reply)) {
		m := byte(0xff)
		if p.mask != nil {
			m = p.mask[i]
		}
		if (got[i]^p.reply[i])&m != 0 {
			return fmt.Errorf("reply byte %d is 0x%02x, want 0x%02x in the bits of 0x%02x", i, got[i], p.reply[i]&m, m)
		}
	}
	return nil
}

func udpErr(ctx context.Context, err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return errors.New("port unreachable")
	}
	return ctxErr(ctx, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
