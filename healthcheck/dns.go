package healthcheck

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// DNS check defaults (keepalived's DNS_CHECK: type SOA, name ".").
const (
	DefaultDNSType = "SOA"
	DefaultDNSName = "."
)

var dnsTypes = map[string]dnsmessage.Type{
	"A": dnsmessage.TypeA, "NS": dnsmessage.TypeNS, "CNAME": dnsmessage.TypeCNAME,
	"SOA": dnsmessage.TypeSOA, "PTR": dnsmessage.TypePTR, "MX": dnsmessage.TypeMX,
	"TXT": dnsmessage.TypeTXT, "AAAA": dnsmessage.TypeAAAA, "SRV": dnsmessage.TypeSRV,
}

// dnsProber is DNS_CHECK: a query over UDP for DNSName and DNSType, passed
// by a response with the query's id and question and rcode NOERROR (as
// keepalived; an empty answer section passes too: the server answered).
// With DNSAnswer (ldirectord's receive= for service=dns) an answer record
// must match it: the address of an A or AAAA record, or the name of a PTR
// (or CNAME) record.
type dnsProber struct {
	target netip.AddrPort
	bind   netip.Addr
	q      dnsmessage.Question
	answer *regexp.Regexp // nil: any NOERROR response
}

func newDNSProber(s spec) (*dnsProber, error) {
	typ := strings.ToUpper(s.check.DNSType)
	if typ == "" {
		typ = DefaultDNSType
	}
	t, ok := dnsTypes[typ]
	if !ok {
		return nil, fmt.Errorf("unknown DNS query type %q (A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT)", s.check.DNSType)
	}
	name := s.check.DNSName
	if name == "" {
		name = DefaultDNSName
	}
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	n, err := dnsmessage.NewName(name)
	if err != nil {
		return nil, fmt.Errorf("DNS name %q: %v", s.check.DNSName, err)
	}
	p := &dnsProber{target: s.target, bind: s.check.BindTo,
		q: dnsmessage.Question{Name: n, Type: t, Class: dnsmessage.ClassINET}}
	if s.check.DNSAnswer != "" {
		if p.answer, err = regexp.Compile(s.check.DNSAnswer); err != nil {
			return nil, fmt.Errorf("DNS answer pattern %q: %v", s.check.DNSAnswer, err)
		}
	}
	if _, err := p.query(0); err != nil {
		return nil, fmt.Errorf("DNS name %q: %v", s.check.DNSName, err)
	}
	return p, nil
}

// query builds the query message.
func (p *dnsProber) query(id uint16) ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(p.q); err != nil {
		return nil, err
	}
	return b.Finish()
}

func (p *dnsProber) probe(ctx context.Context) Result {
	var r [2]byte
	rand.Read(r[:])
	id := binary.BigEndian.Uint16(r[:])
	msg, err := p.query(id)
	if err != nil {
		return Result{Err: err}
	}
	conn, err := dialer(p.bind, "udp").DialContext(ctx, "udp", p.target.String())
	if err != nil {
		return Result{Err: err}
	}
	defer conn.Close()
	stop := connDeadline(ctx, conn)
	defer stop()
	if _, err := conn.Write(msg); err != nil {
		return Result{Err: udpErr(ctx, err)}
	}
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if isTimeout(err) && !errors.Is(ctx.Err(), context.Canceled) {
				return Result{Err: errors.New("no DNS response")}
			}
			return Result{Err: udpErr(ctx, err)}
		}
		ours, err := dnsReply(buf[:n], id, p.q)
		if !ours {
			continue // not the answer to this query: keep waiting
		}
		if err == nil && p.answer != nil {
			err = dnsMatch(buf[:n], p.answer)
		}
		return Result{Err: err}
	}
}

// dnsReply judges a datagram received after a query with id and question
// q: ours is false for anything that is not a response to it (which the
// check ignores, as keepalived does); for a response, err says why it
// fails the check (nil: rcode NOERROR).
func dnsReply(msg []byte, id uint16, q dnsmessage.Question) (ours bool, err error) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil || h.ID != id || !h.Response {
		return false, nil
	}
	got, err := p.Question()
	if err == nil && (got.Type != q.Type || got.Class != q.Class || !strings.EqualFold(got.Name.String(), q.Name.String())) {
		return false, nil
	}
	if h.RCode != dnsmessage.RCodeSuccess {
		return true, fmt.Errorf("rcode %s", strings.TrimPrefix(h.RCode.String(), "RCode"))
	}
	if err != nil && !errors.Is(err, dnsmessage.ErrSectionDone) {
		return true, fmt.Errorf("malformed response: %v", err)
	}
	return true, nil
}

// dnsMatch checks that an answer record of a NOERROR response matches re
// (ldirectord's receive= for service=dns): an A or AAAA record by its
// address, a PTR or CNAME record by its name (without the final dot).
func dnsMatch(msg []byte, re *regexp.Regexp) error {
	var p dnsmessage.Parser
	if _, err := p.Start(msg); err != nil {
		return fmt.Errorf("malformed response: %v", err)
	}
	if err := p.SkipAllQuestions(); err != nil {
		return fmt.Errorf("malformed response: %v", err)
	}
	var seen []string
	for {
		h, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return fmt.Errorf("malformed response: %v", err)
		}
		var text string
		switch h.Type {
		case dnsmessage.TypeA:
			r, err := p.AResource()
			if err != nil {
				return fmt.Errorf("malformed response: %v", err)
			}
			text = netip.AddrFrom4(r.A).String()
		case dnsmessage.TypeAAAA:
			r, err := p.AAAAResource()
			if err != nil {
				return fmt.Errorf("malformed response: %v", err)
			}
			text = netip.AddrFrom16(r.AAAA).String()
		case dnsmessage.TypePTR:
			r, err := p.PTRResource()
			if err != nil {
				return fmt.Errorf("malformed response: %v", err)
			}
			text = strings.TrimSuffix(r.PTR.String(), ".")
		case dnsmessage.TypeCNAME:
			r, err := p.CNAMEResource()
			if err != nil {
				return fmt.Errorf("malformed response: %v", err)
			}
			text = strings.TrimSuffix(r.CNAME.String(), ".")
		default:
			if err := p.SkipAnswer(); err != nil {
				return fmt.Errorf("malformed response: %v", err)
			}
			continue
		}
		if re.MatchString(text) {
			return nil
		}
		seen = append(seen, text)
	}
	if len(seen) == 0 {
		return fmt.Errorf("no answer record to match %q", re.String())
	}
	return fmt.Errorf("answer %s does not match %q", strings.Join(seen, ", "), re.String())
}
