package healthcheck

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/gdirector/gdirector/config"
)

var loopback4 = netip.MustParseAddr("127.0.0.1")

// attempt validates c for a real server at dest and runs one attempt.
func attempt(t *testing.T, c config.Check, dest netip.AddrPort) Result {
	t.Helper()
	sp := resolve(c, dest)
	pr, err := newProber(sp, ExecCommand, []string{"GDIRECTOR_RIP=" + dest.Addr().String()})
	if err != nil {
		t.Fatalf("newProber: %v", err)
	}
	if hp, ok := pr.(*httpProber); ok {
		defer hp.close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), sp.timeout)
	defer cancel()
	return pr.probe(ctx)
}

func wantPass(t *testing.T, r Result) {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("check failed: %v", r.Err)
	}
}

func wantFail(t *testing.T, r Result, substr string) {
	t.Helper()
	if r.Err == nil {
		t.Fatalf("check passed, want a failure containing %q", substr)
	}
	if !strings.Contains(r.Err.Error(), substr) {
		t.Fatalf("check failed with %q, want %q in it", r.Err, substr)
	}
}

func addrPortOf(t *testing.T, a net.Addr) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// closedPort returns a loopback port nothing listens on (of network
// "tcp" or "udp").
func closedPort(t *testing.T, network string) netip.AddrPort {
	t.Helper()
	var a net.Addr
	switch network {
	case "tcp":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a = l.Addr()
		l.Close()
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a = c.LocalAddr()
		c.Close()
	}
	return addrPortOf(t, a)
}

func TestTCPCheck(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	up := addrPortOf(t, l.Addr())
	c := config.Check{Kind: config.CheckTCP, Timeout: time.Second}
	wantPass(t, attempt(t, c, up))

	// connect_port overrides the real server's port.
	c.Target = netip.AddrPortFrom(netip.Addr{}, up.Port())
	wantPass(t, attempt(t, c, netip.AddrPortFrom(loopback4, 1)))
	c.Target = netip.AddrPort{}

	// bindto: the connection comes from the address asked for.
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	up = addrPortOf(t, l2.Addr())
	accepted := make(chan net.Addr, 1)
	go func() {
		conn, err := l2.Accept()
		if err == nil {
			accepted <- conn.RemoteAddr()
			conn.Close()
		}
	}()
	c.BindTo = netip.MustParseAddr("127.0.0.2")
	wantPass(t, attempt(t, c, up))
	if got := addrPortOf(t, <-accepted).Addr(); got != c.BindTo {
		t.Errorf("check came from %v, want bindto %v", got, c.BindTo)
	}
	c.BindTo = netip.Addr{}

	wantFail(t, attempt(t, c, closedPort(t, "tcp")), "connection refused")
}

func TestTCPCheckIPv6(t *testing.T) {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer l.Close()
	wantPass(t, attempt(t, config.Check{Kind: config.CheckTCP, Timeout: time.Second}, addrPortOf(t, l.Addr())))
}

// httpHandler serves the paths the HTTP check tests use.
func httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello world")
	})
	mux.HandleFunc("/bad", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/host", func(w http.ResponseWriter, r *http.Request) {
		sni := ""
		if r.TLS != nil {
			sni = r.TLS.ServerName
		}
		fmt.Fprintf(w, "host=%s sni=%s ua=%s", r.Host, sni, r.UserAgent())
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	return mux
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestHTTPCheck(t *testing.T) {
	srv := httptest.NewServer(httpHandler())
	defer srv.Close()
	dest := addrPortOf(t, srv.Listener.Addr())
	check := func(urls ...config.URLCheck) config.Check {
		return config.Check{Kind: config.CheckHTTP, Timeout: 2 * time.Second, URLs: urls}
	}
	for _, tc := range []struct {
		name string
		c    config.Check
		fail string // "" = passes
	}{
		{"2xx by default", check(config.URLCheck{Path: "/ok"}), ""},
		{"503 fails the default", check(config.URLCheck{Path: "/bad"}), "status 503, want 200..299"},
		{"503 accepted", check(config.URLCheck{Path: "/bad", Status: []int{200, 503}}), ""},
		{"200 refused", check(config.URLCheck{Path: "/ok", Status: []int{204}}), "status 200, want 204"},
		{"404", check(config.URLCheck{Path: "/nowhere"}), "status 404"},
		{"redirect not followed", check(config.URLCheck{Path: "/moved"}), "status 302"},
		{"redirect accepted", check(config.URLCheck{Path: "/moved", Status: []int{302}}), ""},
		{"digest", check(config.URLCheck{Path: "/ok", Digest: md5hex("hello world")}), ""},
		{"digest upper case", check(config.URLCheck{Path: "/ok", Digest: strings.ToUpper(md5hex("hello world"))}), ""},
		{"digest mismatch", check(config.URLCheck{Path: "/ok", Digest: md5hex("hello")}), "body digest " + md5hex("hello world")},
		{"substring", check(config.URLCheck{Path: "/ok", Substring: "lo wo"}), ""},
		{"substring missing", check(config.URLCheck{Path: "/ok", Substring: "goodbye"}), `does not contain "goodbye"`},
		{"regexp", check(config.URLCheck{Path: "/ok", Regexp: `^hel+o\s`}), ""},
		{"regexp mismatch", check(config.URLCheck{Path: "/ok", Regexp: `^world`}), "does not match"},
		{"every url must pass", check(config.URLCheck{Path: "/ok"}, config.URLCheck{Path: "/bad"}), "GET /bad: status 503"},
		{"all urls pass", check(config.URLCheck{Path: "/ok"}, config.URLCheck{Path: "/bad", Status: []int{503}}), ""},
		{"digest and status together", check(config.URLCheck{Path: "/bad", Status: []int{503}, Digest: md5hex("down for maintenance\n")}), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := attempt(t, tc.c, dest)
			if tc.fail == "" {
				wantPass(t, r)
			} else {
				wantFail(t, r, tc.fail)
			}
		})
	}

	t.Run("virtual host", func(t *testing.T) {
		c := check(config.URLCheck{Path: "/host", Substring: "host=www.example.test sni= ua=" + userAgent})
		c.VirtualHost = "www.example.test"
		wantPass(t, attempt(t, c, dest))
		// Without one, the Host header is the target.
		c = check(config.URLCheck{Path: "/host", Substring: "host=" + dest.String() + " "})
		wantPass(t, attempt(t, c, dest))
	})
	t.Run("virtual host of a url", func(t *testing.T) {
		// A URL's virtual host overrides the check's, for that URL only.
		c := check(
			config.URLCheck{Path: "/host", Substring: "host=api.example.test ", VirtualHost: "api.example.test"},
			config.URLCheck{Path: "/host", Substring: "host=www.example.test "},
			config.URLCheck{Path: "/host", Substring: "host=img.example.test:8080 ", VirtualHost: "img.example.test:8080"},
		)
		c.VirtualHost = "www.example.test"
		wantPass(t, attempt(t, c, dest))
		c.URLs[1].Substring = "host=api.example.test "
		wantFail(t, attempt(t, c, dest), "GET /host: body does not contain \"host=api.example.test \"")
		// Without a check's virtual host, the others go to the target.
		c = check(
			config.URLCheck{Path: "/host", Substring: "host=api.example.test ", VirtualHost: "api.example.test"},
			config.URLCheck{Path: "/host", Substring: "host=" + dest.String() + " "},
		)
		wantPass(t, attempt(t, c, dest))
	})
	t.Run("slow server times out", func(t *testing.T) {
		c := check(config.URLCheck{Path: "/slow"})
		c.Timeout = 100 * time.Millisecond
		start := time.Now()
		wantFail(t, attempt(t, c, dest), "timed out")
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("a 100ms check took %v", d)
		}
	})
	t.Run("closed port", func(t *testing.T) {
		wantFail(t, attempt(t, check(config.URLCheck{Path: "/ok"}), closedPort(t, "tcp")), "connection refused")
	})
}

func TestHTTPSCheck(t *testing.T) {
	srv := httptest.NewUnstartedServer(httpHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failures are on purpose
	srv.StartTLS()
	defer srv.Close()
	dest := addrPortOf(t, srv.Listener.Addr())
	c := config.Check{Kind: config.CheckHTTPS, Timeout: 2 * time.Second, URLs: []config.URLCheck{{Path: "/ok", Digest: md5hex("hello world")}}}
	wantPass(t, attempt(t, c, dest))

	// No SNI unless asked for; then the name asked for.
	c.URLs = []config.URLCheck{{Path: "/host", Substring: "sni= "}}
	wantPass(t, attempt(t, c, dest))
	c.SNI = "www.example.test"
	c.URLs = []config.URLCheck{{Path: "/host", Substring: "sni=www.example.test "}}
	wantPass(t, attempt(t, c, dest))

	// A URL's virtual host is its Host header over TLS too, and without
	// verification sends no SNI.
	c.SNI = ""
	c.VirtualHost = "www.example.test"
	c.URLs = []config.URLCheck{
		{Path: "/host", Substring: "host=api.example.test sni= ", VirtualHost: "api.example.test"},
		{Path: "/host", Substring: "host=www.example.test sni= "},
	}
	wantPass(t, attempt(t, c, dest))

	// With verification and no SNI name, each URL's certificate must have
	// the name of its virtual host (else the check's, else the target
	// address).
	c.VerifyTLS = true
	c.URLs = append(c.URLs, config.URLCheck{Path: "/host", VirtualHost: "img.example.test:8443"}, config.URLCheck{Path: "/ok", VirtualHost: "api.example.test"})
	pr, err := newProber(resolve(c, dest), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	hp := pr.(*httpProber)
	var names []string
	for _, u := range hp.urls {
		names = append(names, u.client.Transport.(*http.Transport).TLSClientConfig.ServerName)
	}
	if want := []string{"api.example.test", "www.example.test", "img.example.test", "api.example.test"}; !slices.Equal(names, want) {
		t.Errorf("names verified %q, want %q", names, want)
	}
	if len(hp.clients) != 3 || hp.urls[0].client != hp.urls[3].client {
		t.Errorf("%d clients; URLs of the same name should share one", len(hp.clients))
	}
	hp.close()

	// The test server's certificate is signed by no authority the system
	// trusts: verification fails it.
	c.SNI = "www.example.test"
	c.URLs = []config.URLCheck{{Path: "/host"}}
	wantFail(t, attempt(t, c, dest), "certificate")

	// Plain HTTP to a TLS port fails.
	c = config.Check{Kind: config.CheckHTTP, Timeout: 2 * time.Second, URLs: []config.URLCheck{{Path: "/ok"}}}
	wantFail(t, attempt(t, c, dest), "status 400")
}

// serveUDP reads datagrams on a loopback port until the test ends and
// hands each one (valid until handle returns) to handle, which may answer
// through pc. It returns the port's address.
func serveUDP(t *testing.T, handle func(pc net.PacketConn, in []byte, from net.Addr)) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 70000)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			handle(pc, buf[:n], from)
		}
	}()
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	return addrPortOf(t, pc.LocalAddr())
}

// udpServer answers (or, if silent, only reads) datagrams until closed.
func udpServer(t *testing.T, silent bool) netip.AddrPort {
	t.Helper()
	return serveUDP(t, func(pc net.PacketConn, in []byte, from net.Addr) {
		if !silent {
			pc.WriteTo(in, from)
		}
	})
}

func TestUDPCheck(t *testing.T) {
	echo := udpServer(t, false)
	silent := udpServer(t, true)
	closed := closedPort(t, "udp")
	c := config.Check{Kind: config.CheckUDP, Timeout: 150 * time.Millisecond, Payload: []byte("ping")}

	wantPass(t, attempt(t, c, echo))
	wantFail(t, attempt(t, c, closed), "port unreachable")
	wantPass(t, attempt(t, c, silent)) // no answer, no refusal

	c.RequireReply = true
	wantPass(t, attempt(t, c, echo))
	wantFail(t, attempt(t, c, silent), "no reply")
	wantFail(t, attempt(t, c, closed), "port unreachable")

	c.Payload = []byte{} // an empty datagram is a datagram
	wantPass(t, attempt(t, c, echo))
}

// udpResponder answers every datagram with answer(datagram) (nothing if
// nil) and records what it received.
type udpResponder struct {
	addr netip.AddrPort
	mu   sync.Mutex
	got  [][]byte
}

func newUDPResponder(t *testing.T, answer func(in []byte) []byte) *udpResponder {
	t.Helper()
	r := &udpResponder{}
	r.addr = serveUDP(t, func(pc net.PacketConn, b []byte, from net.Addr) {
		in := bytes.Clone(b)
		r.mu.Lock()
		r.got = append(r.got, in)
		r.mu.Unlock()
		if out := answer(in); out != nil {
			pc.WriteTo(out, from)
		}
	})
	return r
}

func (r *udpResponder) last(t *testing.T) []byte {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		t.Fatal("the server received nothing")
	}
	return r.got[len(r.got)-1]
}

func TestUDPDefaultPayload(t *testing.T) {
	echo := newUDPResponder(t, func(in []byte) []byte { return in })
	c := config.Check{Kind: config.CheckUDP, Timeout: time.Second, RequireReply: true}
	wantPass(t, attempt(t, c, echo.addr))
	if got := echo.last(t); len(got) != 32 || !bytes.Equal(got, defaultUDPPayload) {
		t.Errorf("without a payload the check sent %q (%d bytes), want the 32-byte default", got, len(got))
	}
	// An echo of the default payload can be matched.
	c.Reply = defaultUDPPayload[:9]
	wantPass(t, attempt(t, c, echo.addr))

	c = config.Check{Kind: config.CheckUDP, Timeout: time.Second, RequireReply: true, Payload: []byte{}}
	wantPass(t, attempt(t, c, echo.addr))
	if got := echo.last(t); len(got) != 0 {
		t.Errorf("an empty payload sent %d bytes", len(got))
	}
	c.Payload = []byte{0xde, 0xad}
	wantPass(t, attempt(t, c, echo.addr))
	if got := echo.last(t); !bytes.Equal(got, c.Payload) {
		t.Errorf("sent % x, want % x", got, c.Payload)
	}
}

func TestUDPReply(t *testing.T) {
	// The server answers the bytes it is sent after the first (whose
	// value is the number of times to repeat them).
	srv := newUDPResponder(t, func(in []byte) []byte {
		if len(in) == 0 {
			return nil
		}
		return bytes.Repeat(in[1:], int(in[0]))
	})
	answer := func(reps int, b ...byte) []byte { return append([]byte{byte(reps)}, b...) }
	for _, tc := range []struct {
		name     string
		send     []byte
		reply    []byte
		mask     []byte
		min, max int
		noReq    bool   // without RequireReply
		fail     string // "" = passes
	}{
		{name: "any content", send: answer(1, 1, 2, 3)},
		{name: "equal", send: answer(1, 1, 2, 3), reply: []byte{1, 2, 3}},
		{name: "prefix of the answer", send: answer(1, 1, 2, 3), reply: []byte{1, 2}},
		{name: "differs", send: answer(1, 1, 3, 3), reply: []byte{1, 2}, fail: "reply byte 1 is 0x03, want 0x02 in the bits of 0xff"},
		{name: "masked bits ignored", send: answer(1, 0x01, 0x2f), reply: []byte{0x01, 0x20}, mask: []byte{0xff, 0xf0}},
		{name: "masked bits compared", send: answer(1, 0x01, 0x3f), reply: []byte{0x01, 0x20}, mask: []byte{0xff, 0xf0}, fail: "reply byte 1 is 0x3f, want 0x20 in the bits of 0xf0"},
		{name: "mask of zeros", send: answer(1, 0xaa, 0xbb), reply: []byte{0, 0}, mask: []byte{0, 0}},
		{name: "short answer compared as far as it goes", send: answer(1, 1), reply: []byte{1, 2, 3}},
		{name: "short answer mismatch", send: answer(1, 9), reply: []byte{1, 2, 3}, fail: "reply byte 0"},
		{name: "too short", send: answer(1, 1), reply: []byte{1, 2, 3}, min: 3, fail: "reply of 1 bytes, want at least 3"},
		{name: "empty answer", send: answer(0), min: 0},
		{name: "empty answer too short", send: answer(0), min: 1, fail: "reply of 0 bytes, want at least 1"},
		{name: "longest", send: answer(5, 7), max: 5},
		{name: "too long", send: answer(6, 7), max: 5, fail: "reply longer than 5 bytes"},
		{name: "keepalived's default limit", send: answer(255, 1, 2), max: 255, fail: "reply longer than 255 bytes"},
		{name: "no limit", send: answer(250, 1, 2, 3, 4), reply: []byte{1, 2, 3, 4, 1}},
		{name: "checks need require_reply", send: answer(9, 9), reply: []byte{1}, min: 100, max: 3, noReq: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Check{Kind: config.CheckUDP, Timeout: time.Second, Payload: tc.send, RequireReply: !tc.noReq,
				Reply: tc.reply, ReplyMask: tc.mask, MinReplyLen: tc.min, MaxReplyLen: tc.max}
			r := attempt(t, c, srv.addr)
			if tc.fail == "" {
				wantPass(t, r)
			} else {
				wantFail(t, r, tc.fail)
			}
		})
	}
}

func TestPingCheck(t *testing.T) {
	conn, raw, err := listenPing(loopback4, netip.Addr{})
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI: no ICMP socket for the ping check: %v", err)
		}
		t.Skipf("no ICMP socket (ping_group_range and no CAP_NET_RAW): %v", err)
	}
	conn.Close()
	t.Logf("ICMP socket: raw=%v", raw)
	c := config.Check{Kind: config.CheckPing, Timeout: 2 * time.Second}
	wantPass(t, attempt(t, c, netip.AddrPortFrom(loopback4, 0)))
	if l, err := net.Listen("tcp", "[::1]:0"); err == nil {
		l.Close()
		wantPass(t, attempt(t, c, netip.MustParseAddrPort("[::1]:0")))
	}
}

// dnsServer answers queries: ok.test. with an A record, empty.test. with
// NOERROR and no answer, nx.test. with NXDOMAIN, slow.test. never; every
// answer is preceded by one with the wrong id, which the check must
// ignore.
func dnsServer(t *testing.T) netip.AddrPort {
	t.Helper()
	return serveUDP(t, func(pc net.PacketConn, in []byte, from net.Addr) {
		var p dnsmessage.Parser
		h, err := p.Start(in)
		if err != nil {
			return
		}
		q, err := p.Question()
		if err != nil {
			return
		}
		rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true}
		var answer bool
		switch q.Name.String() {
		case "ok.test.":
			answer = true
		case "empty.test.":
		case "nx.test.":
			rh.RCode = dnsmessage.RCodeNameError
		default:
			return
		}
		for _, id := range []uint16{h.ID + 1, h.ID} {
			rh.ID = id
			b := dnsmessage.NewBuilder(nil, rh)
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			if answer && q.Type == dnsmessage.TypeA {
				b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
					dnsmessage.AResource{A: [4]byte{192, 0, 2, 1}})
			}
			msg, err := b.Finish()
			if err == nil {
				pc.WriteTo(msg, from)
			}
		}
	})
}

func TestDNSCheck(t *testing.T) {
	dest := dnsServer(t)
	c := func(typ, name string) config.Check {
		return config.Check{Kind: config.CheckDNS, Timeout: 300 * time.Millisecond, DNSType: typ, DNSName: name}
	}
	wantPass(t, attempt(t, c("A", "ok.test"), dest))
	wantPass(t, attempt(t, c("a", "ok.test."), dest))
	wantPass(t, attempt(t, c("AAAA", "empty.test"), dest)) // NOERROR, no answer: keepalived passes it
	wantFail(t, attempt(t, c("A", "nx.test"), dest), "rcode NameError")
	wantFail(t, attempt(t, c("A", "slow.test"), dest), "no DNS response")
	wantFail(t, attempt(t, c("A", "ok.test"), closedPort(t, "udp")), "port unreachable")
}

// TestDNSAnswerMatch: ldirectord's receive= for service=dns: an answer
// record must match the pattern.
func TestDNSAnswerMatch(t *testing.T) {
	dest := dnsServer(t)
	c := func(name, answer string) config.Check {
		return config.Check{Kind: config.CheckDNS, Timeout: 300 * time.Millisecond, DNSType: "A", DNSName: name, DNSAnswer: answer}
	}
	wantPass(t, attempt(t, c("ok.test", `^192\.0\.2\.1$`), dest))
	wantPass(t, attempt(t, c("ok.test", `192\.0\.2`), dest))
	wantFail(t, attempt(t, c("ok.test", `^198\.51\.100\.`), dest), "answer 192.0.2.1 does not match")
	wantFail(t, attempt(t, c("empty.test", `.`), dest), "no answer record")
	if _, err := newDNSProber(resolve(c("ok.test", `(`), dest)); err == nil {
		t.Fatal("a bad pattern was accepted")
	}
}

// smtpServer runs a fake SMTP server that behaves as mode says.
func smtpServer(t *testing.T, mode string) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				r := bufio.NewReader(conn)
				switch mode {
				case "silent":
					r.ReadString('\n') // until the client gives up
					return
				case "busy":
					fmt.Fprint(conn, "554 no service\r\n")
					return
				}
				fmt.Fprint(conn, "220-mail.example.test ESMTP\r\n220 ready\r\n")
				line, _ := r.ReadString('\n')
				if !strings.HasPrefix(line, "HELO checker.example.test") {
					fmt.Fprintf(conn, "501 bad HELO %q\r\n", line)
					return
				}
				if mode == "refuse" {
					fmt.Fprint(conn, "550 go away\r\n")
					return
				}
				fmt.Fprint(conn, "250 mail.example.test\r\n")
				if line, _ := r.ReadString('\n'); line == "QUIT\r\n" {
					fmt.Fprint(conn, "221 bye\r\n")
				}
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return addrPortOf(t, l.Addr())
}

func TestSMTPCheck(t *testing.T) {
	c := config.Check{Kind: config.CheckSMTP, Timeout: 300 * time.Millisecond, HELO: "checker.example.test"}
	wantPass(t, attempt(t, c, smtpServer(t, "good")))
	wantFail(t, attempt(t, c, smtpServer(t, "busy")), "greeting: 554 no service")
	wantFail(t, attempt(t, c, smtpServer(t, "refuse")), "HELO: 550 go away")
	wantFail(t, attempt(t, c, smtpServer(t, "silent")), "greeting: timed out")
	wantFail(t, attempt(t, c, closedPort(t, "tcp")), "connection refused")
}

func TestMiscCheck(t *testing.T) {
	dest := netip.AddrPortFrom(loopback4, 80)
	c := func(cmd string, dynamic bool) config.Check {
		return config.Check{Kind: config.CheckMisc, Timeout: 2 * time.Second, Command: cmd, Dynamic: dynamic}
	}
	wantPass(t, attempt(t, c("true", false), dest))
	wantFail(t, attempt(t, c("false", false), dest), "exit status 1")
	wantFail(t, attempt(t, c("exit 5", false), dest), "exit status 5")
	if r := attempt(t, c("exit 5", true), dest); r.Err != nil || !r.HasWeight || r.Weight != 3 {
		t.Errorf("misc_dynamic exit 5 = %+v, want a pass with weight 3", r)
	}
	if r := attempt(t, c("exit 0", true), dest); r.Err != nil || r.HasWeight {
		t.Errorf("misc_dynamic exit 0 = %+v, want a pass with the configured weight", r)
	}
	if r := attempt(t, c("exit 2", true), dest); r.Err != nil || !r.HasWeight || r.Weight != 0 {
		t.Errorf("misc_dynamic exit 2 = %+v, want a pass with weight 0", r)
	}
	wantFail(t, attempt(t, c("exit 1", true), dest), "exit status 1")
	// The environment describes the real server.
	wantPass(t, attempt(t, c(`test "$GDIRECTOR_RIP" = 127.0.0.1`, false), dest))

	// A hung command is killed at the timeout, with its children.
	dir := t.TempDir()
	marker := filepath.Join(dir, "survived")
	slow := c(fmt.Sprintf("(sleep 0.5; touch %s) & sleep 10", marker), false)
	slow.Timeout = 100 * time.Millisecond
	start := time.Now()
	r := attempt(t, slow, dest)
	if r.Err == nil || !errors.Is(r.Err, context.DeadlineExceeded) {
		t.Errorf("hung command: %v, want killed after the deadline", r.Err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a 100ms command took %v", d)
	}
	time.Sleep(700 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command's child outlived the timeout")
	}
}

func TestOnOffCheck(t *testing.T) {
	dest := netip.AddrPortFrom(loopback4, 80)
	wantPass(t, attempt(t, config.Check{Kind: config.CheckOn}, dest))
	wantFail(t, attempt(t, config.Check{Kind: config.CheckOff}, dest), "off")
}

func TestCheckValidation(t *testing.T) {
	dest := netip.AddrPortFrom(loopback4, 80)
	for _, tc := range []struct {
		name string
		c    config.Check
		want string
	}{
		{"unknown kind", config.Check{Kind: 99}, "unknown check kind"},
		{"negative interval", config.Check{Kind: config.CheckTCP, Interval: -1}, "negative"},
		{"negative retry", config.Check{Kind: config.CheckTCP, Retry: -1}, "negative retry"},
		{"negative rise", config.Check{Kind: config.CheckTCP, Rise: -2}, "negative retry or rise"},
		{"no port", config.Check{Kind: config.CheckTCP, Target: netip.AddrPortFrom(netip.Addr{}, 0)}, "no port"},
		{"bindto family", config.Check{Kind: config.CheckTCP, BindTo: netip.MustParseAddr("::1")}, "different families"},
		{"http without url", config.Check{Kind: config.CheckHTTP}, "no url"},
		{"relative path", config.Check{Kind: config.CheckHTTP, URLs: []config.URLCheck{{Path: "index.html"}}}, "does not start with /"},
		{"bad status", config.Check{Kind: config.CheckHTTP, URLs: []config.URLCheck{{Path: "/", Status: []int{42}}}}, "status 42"},
		{"bad digest", config.Check{Kind: config.CheckHTTP, URLs: []config.URLCheck{{Path: "/", Digest: "abc"}}}, "32 hex digits"},
		{"bad regexp", config.Check{Kind: config.CheckHTTPS, URLs: []config.URLCheck{{Path: "/", Regexp: "a(b"}}}, "missing closing )"},
		{"dns type", config.Check{Kind: config.CheckDNS, DNSType: "WKS"}, `unknown DNS query type "WKS"`},
		{"dns name", config.Check{Kind: config.CheckDNS, DNSName: strings.Repeat("a", 70) + ".test"}, "DNS name"},
		{"udp payload", config.Check{Kind: config.CheckUDP, Payload: make([]byte, 70000)}, "longer than"},
		{"udp reply lengths", config.Check{Kind: config.CheckUDP, RequireReply: true, MinReplyLen: 10, MaxReplyLen: 5}, "could never pass"},
		{"udp negative length", config.Check{Kind: config.CheckUDP, RequireReply: true, MinReplyLen: -1}, "negative reply length"},
		{"udp mask", config.Check{Kind: config.CheckUDP, RequireReply: true, Reply: []byte{1, 2}, ReplyMask: []byte{0xff}}, "reply mask of 1 bytes for a reply of 2"},
		{"misc without command", config.Check{Kind: config.CheckMisc, Command: "  "}, "no command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dest
			if tc.name == "no port" {
				d = netip.AddrPortFrom(loopback4, 0)
			}
			_, err := newProber(resolve(tc.c, d), ExecCommand, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("newProber: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// A ping or misc check needs no port.
	if _, err := newProber(resolve(config.Check{Kind: config.CheckPing}, netip.AddrPortFrom(loopback4, 0)), ExecCommand, nil); err != nil {
		t.Errorf("ping without port: %v", err)
	}
}

func TestResolveDefaults(t *testing.T) {
	dest := netip.MustParseAddrPort("203.0.113.5:80")
	s := resolve(config.Check{Kind: config.CheckTCP}, dest)
	if s.interval != DefaultInterval || s.timeout != DefaultTimeout || s.rise != 1 || s.target != dest {
		t.Errorf("defaults: %+v", s)
	}
	s = resolve(config.Check{Kind: config.CheckMisc, Interval: 7 * time.Second}, dest)
	if s.timeout != 7*time.Second {
		t.Errorf("misc timeout %v, want the interval", s.timeout)
	}
	s = resolve(config.Check{Kind: config.CheckTCP, Target: netip.MustParseAddrPort("203.0.113.9:0")}, dest)
	if s.target != netip.MustParseAddrPort("203.0.113.9:80") {
		t.Errorf("connect_ip without port: target %v", s.target)
	}
}
