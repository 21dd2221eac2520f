package healthcheck

import (
	"bufio"
	"context"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

func TestReadSMTPReply(t *testing.T) {
	for _, tc := range []struct {
		in   string
		code int
		text string
		err  string
	}{
		{"220 ready\r\n", 220, "ready", ""},
		{"220\r\n", 220, "", ""},
		{"220-one\r\n220-two\r\n220 three\r\n", 220, "three", ""},
		{"250 ok\n", 250, "ok", ""},
		{"220-one\r\n250 two\r\n", 0, "", "reply code changed"},
		{"22 short\r\n", 0, "", "malformed"},
		{"abc def\r\n", 0, "", "malformed"},
		{"220_x\r\n", 0, "", "malformed"},
		{"150 no such class\r\n", 0, "", "malformed"},
		{"220-one\r\n", 0, "", "connection closed"},
		{"", 0, "", "connection closed"},
		{"220 " + strings.Repeat("x", 2000) + "\r\n", 0, "", "too long"},
		{strings.Repeat("220-x\r\n", 200), 0, "", "longer than 100 lines"},
	} {
		code, text, err := readSMTPReply(bufio.NewReaderSize(strings.NewReader(tc.in), maxSMTPLine))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%.30q: %d %q %v, want error %q", tc.in, code, text, err, tc.err)
			}
			continue
		}
		if err != nil || code != tc.code || text != tc.text {
			t.Errorf("%.30q: %d %q %v, want %d %q", tc.in, code, text, err, tc.code, tc.text)
		}
	}
}

func FuzzSMTPReply(f *testing.F) {
	for _, s := range []string{"220 ready\r\n", "220-a\r\n220 b\r\n", "250\n", "500 no\r\n", "2", "220-\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		code, _, err := readSMTPReply(bufio.NewReaderSize(strings.NewReader(string(b)), maxSMTPLine))
		if err == nil && (code < 200 || code > 599) {
			t.Fatalf("accepted reply code %d", code)
		}
	})
}

func dnsMsg(t testing.TB, h dnsmessage.Header, q *dnsmessage.Question) []byte {
	b := dnsmessage.NewBuilder(nil, h)
	b.StartQuestions()
	if q != nil {
		b.Question(*q)
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestDNSReply(t *testing.T) {
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("example.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	other := q
	other.Type = dnsmessage.TypeMX
	upper := q
	upper.Name = dnsmessage.MustNewName("EXAMPLE.test.")
	for _, tc := range []struct {
		name      string
		msg       []byte
		ours, bad bool
	}{
		{"noerror", dnsMsg(t, dnsmessage.Header{ID: 7, Response: true}, &q), true, false},
		{"name case", dnsMsg(t, dnsmessage.Header{ID: 7, Response: true}, &upper), true, false},
		{"nxdomain", dnsMsg(t, dnsmessage.Header{ID: 7, Response: true, RCode: dnsmessage.RCodeNameError}, &q), true, true},
		{"servfail without question", dnsMsg(t, dnsmessage.Header{ID: 7, Response: true, RCode: dnsmessage.RCodeServerFailure}, nil), true, true},
		{"other id", dnsMsg(t, dnsmessage.Header{ID: 8, Response: true}, &q), false, false},
		{"a query", dnsMsg(t, dnsmessage.Header{ID: 7}, &q), false, false},
		{"other question", dnsMsg(t, dnsmessage.Header{ID: 7, Response: true}, &other), false, false},
		{"garbage", []byte{0, 7}, false, false},
	} {
		ours, err := dnsReply(tc.msg, 7, q)
		if ours != tc.ours || (err != nil) != tc.bad {
			t.Errorf("%s: ours=%v err=%v; want ours=%v failing=%v", tc.name, ours, err, tc.ours, tc.bad)
		}
	}
}

func FuzzDNSReply(f *testing.F) {
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("example.test."), Type: dnsmessage.TypeSOA, Class: dnsmessage.ClassINET}
	f.Add(dnsMsg(f, dnsmessage.Header{ID: 1, Response: true}, &q))
	f.Add(dnsMsg(f, dnsmessage.Header{ID: 1, Response: true, RCode: dnsmessage.RCodeRefused}, nil))
	f.Add([]byte{0, 1, 0x80, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		ours, _ := dnsReply(b, 1, q)
		if ours && (len(b) < 12 || b[0] != 0 || b[1] != 1 || b[2]&0x80 == 0) {
			t.Fatalf("took %x for the response to query 1", b)
		}
	})
}

// FuzzApply feeds Apply configurations built from arbitrary values: it
// must either refuse one and change nothing, or apply it.
func FuzzApply(f *testing.F) {
	f.Add(uint8(1), int32(1), 1, 0, uint16(80), "/", "", "", "A", uint8(0), "rr", true)
	f.Add(uint8(2), int32(-1), -1, 2, uint16(0), "x", "(", "zz", "WKS", uint8(9), "nope", false)
	f.Add(uint8(6), int32(3), 5, 1, uint16(53), "/a", "a+", "0123456789abcdef0123456789ABCDEF", "", uint8(3), "", true)
	f.Fuzz(func(t *testing.T, kind uint8, weight int32, quorum, hyst int, port uint16,
		path, re, digest, dnsType string, fwd uint8, sched string, alpha bool) {
		mgr := ctl.NewManager(ctl.Config{})
		e := New(mgr, Options{Probe: func(context.Context, *config.Check, netip.AddrPort) Result { return Result{} }})
		good := &config.Config{Services: []config.Service{service(vip, dest("203.0.113.1:80", 1, tcpCheck))}}
		if _, err := e.Apply(good); err != nil {
			t.Fatal(err)
		}
		table, health := mgr.Table(), e.Health()

		d := dest("203.0.113.2:80", weight, config.Check{Kind: config.CheckKind(kind % 12), Target: netip.AddrPortFrom(netip.Addr{}, port),
			URLs: []config.URLCheck{{Path: path, Regexp: re, Digest: digest}}, DNSType: dnsType, Command: path})
		d.Fwd = vs.FwdMethod(fwd)
		s := service(vip, dest("203.0.113.1:80", 1, tcpCheck), d)
		s.Scheduler, s.Quorum, s.Hysteresis, s.Alpha = sched, quorum, hyst, alpha
		s.Sorry = &config.Dest{DestConfig: ctl.DestConfig{Addr: netip.MustParseAddr("203.0.113.9"), Port: port, Fwd: d.Fwd}}
		_, err := e.Apply(&config.Config{Services: []config.Service{s}})
		if err != nil {
			if mgr.Table() != table || !reflect.DeepEqual(e.Health(), health) {
				t.Fatalf("refused (%v) but changed something", err)
			}
			return
		}
		if got := len(e.Health()); got != 2 {
			t.Fatalf("applied, with %d real servers in the health list", got)
		}
	})
}

// FuzzUDPReply checks replyOK against the rule it implements, bit by bit:
// the length within bounds, and every bit the mask sets in the bytes both
// the answer and the expected reply have equal.
func FuzzUDPReply(f *testing.F) {
	f.Add([]byte{1, 2, 3}, []byte{1, 2}, []byte{}, 0, 255)
	f.Add([]byte{0x01, 0x2f}, []byte{0x01, 0x20}, []byte{0xff, 0xf0}, 1, 0)
	f.Add([]byte{}, []byte{9}, []byte{0}, 1, 3)
	f.Fuzz(func(t *testing.T, got, reply, mask []byte, minLen, maxLen int) {
		if minLen < 0 || maxLen < 0 || maxLen > 0 && minLen > maxLen {
			return // refused by newUDPProber
		}
		if len(mask) == 0 {
			mask = nil
		} else {
			mask = append(mask, make([]byte, max(len(reply)-len(mask), 0))...)[:len(reply)]
		}
		p := &udpProber{requireReply: true, reply: reply, mask: mask, minLen: minLen, maxLen: maxLen}
		want := len(got) >= minLen && (maxLen == 0 || len(got) <= maxLen)
		for i := 0; want && i < len(got) && i < len(reply); i++ {
			for bit := range 8 {
				m := mask == nil || mask[i]>>bit&1 == 1
				if m && got[i]>>bit&1 != reply[i]>>bit&1 {
					want = false
				}
			}
		}
		if err := p.replyOK(got); (err == nil) != want {
			t.Fatalf("replyOK(% x) against % x mask % x, %d..%d: %v, want pass=%v", got, reply, mask, minLen, maxLen, err, want)
		}
	})
}
