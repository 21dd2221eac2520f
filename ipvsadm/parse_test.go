package ipvsadm

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/gdirector/gdirector/vs"
)

func TestInetAton(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" = invalid
	}{
		{"192.0.2.10", "192.0.2.10"},
		{"10.1", "10.0.0.1"},
		{"10.1.2", "10.1.0.2"},
		{"3221225994", "192.0.2.10"},
		{"0xc0.0.2.012", "192.0.2.10"},
		{"0300.0.2.10", "192.0.2.10"},
		{"0", "0.0.0.0"},
		{"255.255.255.255", "255.255.255.255"},
		{"1.2.3.4 trailing", "1.2.3.4"},
		{"10.65535", "10.0.255.255"},
		{"10.16777216", ""},
		{"256.1.1.1", ""},
		{"1.2.3.256", ""},
		{"1.2.3.4.5", ""},
		{"1.2.3.", ""},
		{".1.2.3", ""},
		{"08.1.1.1", ""},
		{"0x.1.1.1", ""},
		{"4294967296", ""},
		{"1.2.3.4x", ""},
		{"", ""},
		{"a.b.c.d", ""},
		{" 1.2.3.4", ""},
		{"+1.2.3.4", ""},
	} {
		v, ok := inetAton(tc.in)
		got := ""
		if ok {
			got = addrFrom32(v).String()
		}
		if got != tc.want {
			t.Errorf("inetAton(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestStringToNumber(t *testing.T) {
	for _, tc := range []struct {
		in       string
		min, max int64
		want     int64
	}{
		{"80", 0, 65535, 80},
		{"+80", 0, 65535, 80},
		{" 80", 0, 65535, 80},
		{"-0", 0, 65535, 0},
		{"65536", 0, 65535, -1},
		{"80 ", 0, 65535, -1},
		{"", 0, 65535, -1},
		{"0x50", 0, 65535, -1},
		{"99999999999999999999", 0, 1 << 62, -1},
		{"-1", 0, 10, -1},
	} {
		if got := stringToNumber(tc.in, tc.min, tc.max); got != tc.want {
			t.Errorf("stringToNumber(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
	if atoi("64abc") != 64 || atoi("x") != 0 || atoi("4294967297") != 1 {
		t.Error("atoi")
	}
}

func TestNtop(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"2001:db8::1", "2001:db8::1"},
		{"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
		{"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},
		{"::", "::"},
		{"::1", "::1"},
		{"1::", "1::"},
		{"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
		{"::192.0.2.1", "::192.0.2.1"},
		{"::2", "::2"},
		{"1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"},
		{"fe80::1:2:3:4", "fe80::1:2:3:4"},
		{"2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"},
		{"192.0.2.1", "192.0.2.1"},
	} {
		if got := ntop(netip.MustParseAddr(tc.in)); got != tc.want {
			t.Errorf("ntop(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseService(t *testing.T) {
	hosts := &Names{LookupHost: func(name string) (netip.Addr, bool) {
		switch name {
		case "www.example.com":
			return netip.MustParseAddr("192.0.2.80"), true
		case "v6only.example.com":
			return netip.MustParseAddr("2001:db8::80"), true
		}
		return netip.Addr{}, false
	}}
	for _, tc := range []struct {
		in    string
		proto vs.Proto
		names *Names
		res   int
		addr  string
		port  uint16
		af    int
	}{
		{"192.0.2.10:80", vs.TCP, nil, serviceAddr | servicePort, "192.0.2.10", 80, afInet},
		{"192.0.2.10", vs.TCP, nil, serviceAddr, "192.0.2.10", 0, afInet},
		{"192.0.2.10:http", vs.TCP, nil, serviceAddr | servicePort, "192.0.2.10", 80, afInet},
		{"192.0.2.10:www", vs.TCP, nil, serviceAddr | servicePort, "192.0.2.10", 80, afInet}, // an alias
		// getservbyname(name, "udp"): netbase lists http for TCP only.
		{"192.0.2.10:http", vs.UDP, nil, 0, "", 0, 0},
		{"192.0.2.10:domain", vs.UDP, nil, serviceAddr | servicePort, "192.0.2.10", 53, afInet},
		{"192.0.2.10:amqp", vs.SCTP, nil, serviceAddr | servicePort, "192.0.2.10", 5672, afInet},
		{"192.0.2.10:http", 0, nil, 0, "", 0, 0}, // no protocol (-r before -t): no names
		{"192.0.2.10:nosuch", vs.TCP, nil, 0, "", 0, 0},
		{"192.0.2.10:", vs.TCP, nil, 0, "", 0, 0},
		{"[2001:db8::1]:443", vs.TCP, nil, serviceAddr | servicePort, "2001:db8::1", 443, afInet6},
		{"[2001:db8::1]:https", vs.TCP, nil, serviceAddr | servicePort, "2001:db8::1", 443, afInet6},
		{"2001:db8::1", vs.TCP, nil, serviceAddr, "2001:db8::1", 0, afInet6},
		{"2001:db8::1:80", vs.TCP, nil, serviceAddr, "2001:db8::1:80", 0, afInet6},
		{"[2001:db8::1]", vs.TCP, nil, 0, "", 0, 0},
		{"[2001:db8::1]80", vs.TCP, nil, 0, "", 0, 0},
		{"[192.0.2.10]:80", vs.TCP, nil, serviceAddr, "192.0.2.10", 0, afInet}, // ipvsadm loses the port
		{"[fe80::1%eth0]:80", vs.TCP, nil, 0, "", 0, 0},
		{"12345", vs.TCP, nil, 0, "", 0, 0},
		{"", vs.TCP, nil, 0, "", 0, 0},
		{"[", vs.TCP, nil, 0, "", 0, 0},
		{"[]:", vs.TCP, nil, 0, "", 0, 0},
		// Host names: gethostbyname, IPv4 only.
		{"www.example.com:http", vs.TCP, nil, 0, "", 0, 0},
		{"www.example.com:http", vs.TCP, hosts, serviceAddr | servicePort, "192.0.2.80", 80, afInet},
		{"www.example.com", vs.TCP, hosts, serviceAddr, "192.0.2.80", 0, afInet},
		{"v6only.example.com:80", vs.TCP, hosts, 0, "", 0, 0},
		{"nowhere.example.com:80", vs.TCP, hosts, 0, "", 0, 0},
		{"[www.example.com]:80", vs.TCP, hosts, serviceAddr, "192.0.2.80", 0, afInet},
	} {
		s := svcArgs{proto: tc.proto}
		res := parseService(tc.in, &s, tc.names)
		if res != tc.res {
			t.Errorf("parseService(%q, %v) = %d, want %d", tc.in, tc.proto, res, tc.res)
			continue
		}
		if res == 0 {
			continue
		}
		if s.addr.String() != tc.addr || s.port != tc.port || s.af != tc.af {
			t.Errorf("parseService(%q): %v port %d af %d", tc.in, s.addr, s.port, s.af)
		}
		if tc.af == afInet6 && s.netmask != 128 {
			t.Errorf("parseService(%q): netmask %d", tc.in, s.netmask)
		}
	}
}

func TestScanner(t *testing.T) {
	type tok struct {
		val int
		arg string
		has bool
	}
	scan := func(argv ...string) ([]tok, []string, scanErr, string) {
		s := &scanner{argv: argv}
		var out []tok
		for {
			tk, done, err := s.nextOpt()
			if done {
				return out, s.leftovers, "", ""
			}
			if err != "" {
				return out, s.leftovers, err, s.badOption()
			}
			out = append(out, tok{tk.opt.val, tk.arg, tk.hasArg})
		}
	}
	toks, left, err, _ := scan("-Ln", "x", "--", "-A", "-")
	if err != "" || !slices.Equal(toks, []tok{{'L', "", false}, {'n', "", false}}) || !slices.Equal(left, []string{"x", "-A", "-"}) {
		t.Fatalf("%v %v %v", toks, left, err)
	}
	toks, _, _, _ = scan("-p", "-M", "m", "-p5", "--persistent=", "--persistent", "7", "-p")
	if !slices.Equal(toks, []tok{{'p', "", false}, {'M', "m", true}, {'p', "5", true}, {'p', "", true}, {'p', "7", true}, {'p', "", false}}) {
		t.Fatalf("optional arguments: %v", toks)
	}
	toks, _, _, _ = scan("-s", "-p", "--scheduler", "--x", "-nsrr")
	if !slices.Equal(toks, []tok{{'s', "-p", true}, {'s', "--x", true}, {'n', "", false}, {'s', "rr", true}}) {
		t.Fatalf("required arguments: %v", toks)
	}
	// -b: --sched-flags with an argument, or DPVS's --fullnat without one
	// once the caller says the command is a real-server command.
	toks, left, _, _ = scan("-b", "flag-1", "-bflag-2", "--fullnat")
	if !slices.Equal(toks, []tok{{'b', "flag-1", true}, {'b', "flag-2", true}, {tagFullNAT, "", false}}) || len(left) != 0 {
		t.Fatalf("-b as --sched-flags: %v %v", toks, left)
	}
	s := &scanner{argv: []string{"-b", "flag-1", "-bw", "3", "--sched-flags", "x"}, dpvsB: true}
	var got []tok
	for {
		tk, done, err := s.nextOpt()
		if done || err != "" {
			break
		}
		got = append(got, tok{tk.opt.val, tk.arg, tk.hasArg})
	}
	if !slices.Equal(got, []tok{{tagFullNAT, "", false}, {tagFullNAT, "", false}, {'w', "3", true}, {'b', "x", true}}) ||
		!slices.Equal(s.leftovers, []string{"flag-1"}) {
		t.Fatalf("-b as --fullnat: %v %v", got, s.leftovers)
	}
	if _, _, err, bad := scan("-L", "--list=1"); err != errUnwantedArg || bad != "--list=1" {
		t.Fatalf("%v %q", err, bad)
	}
	if _, _, err, bad := scan("-L", "-t"); err != errNoArg || bad != "-t" {
		t.Fatalf("%v %q", err, bad)
	}
	if _, _, err, bad := scan("-Lk"); err != errBadOpt || bad != "-Lk" {
		t.Fatalf("%v %q", err, bad)
	}
}

// TestSortLikeIpvsadm: the comparisons wrap like libipvs's int
// arithmetic, and the merge reproduces glibc's for such orders too.
func TestSortLikeIpvsadm(t *testing.T) {
	mk := func(a string, port uint16) *vs.Dest {
		return vs.NewDest(netip.MustParseAddr(a), port, vs.Masq, 1)
	}
	// 10.0.0.1 - 200.0.0.1 wraps to a positive int: 10.0.0.1 sorts after.
	ds := []*vs.Dest{mk("10.0.0.1", 80), mk("200.0.0.1", 80), mk("10.0.0.1", 79)}
	got := mergeSort(ds, compareDests)
	var names []string
	for _, d := range got {
		names = append(names, addrPort(d.Addr, d.Port))
	}
	if !slices.Equal(names, []string{"200.0.0.1:80", "10.0.0.1:79", "10.0.0.1:80"}) {
		t.Fatalf("wrapped order %v", names)
	}
	// Without wrapping it is an ordinary stable sort.
	r := rand.New(rand.NewPCG(1, 1))
	for range 100 {
		var in []*vs.Dest
		for range r.IntN(20) {
			in = append(in, mk(netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(3)), byte(r.IntN(3))}).String(), uint16(r.IntN(3))))
		}
		want := slices.Clone(in)
		slices.SortStableFunc(want, compareDests)
		if got := mergeSort(in, compareDests); !slices.Equal(got, want) {
			t.Fatal("mergeSort differs from a stable sort")
		}
	}
}
