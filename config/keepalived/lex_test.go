package keepalived

import (
	"bytes"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecomment(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "  weight 3   ", want: "weight 3"},
		{in: "weight 3 ! a comment", want: "weight 3"},
		{in: "weight 3# comment", want: "weight 3"},
		{in: "! all comment", want: ""},
		{in: `path "/a#b!c" # comment`, want: `path "/a#b!c"`},
		{in: `path /a\#b\!c`, want: `path /a#b!c`},
		{in: `path "/a\#b"`, want: `path "/a\#b"`},
		{in: `path "/a\"#b"`, want: `path "/a\"#b"`}, // an escaped quote neither opens nor closes
		{in: `$X=1 \`, want: `$X=1\`},
		{in: "\tvalue\t\\", want: `value\`},
		{in: `path "/a`, err: "unterminated quote"},
	} {
		got, err := decomment(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("decomment(%q): error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("decomment(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestItems(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"real_server 192.0.2.1 80 { weight 2", []string{"real_server 192.0.2.1 80", "{", "weight 2"}},
		{"TCP_CHECK { connect_timeout 3 }", []string{"TCP_CHECK", "{", "connect_timeout 3", "}"}},
		{"}}", []string{"}", "}"}},
		{`path "/{x}" {`, []string{`path "/{x}"`, "{"}},
		{"url {}", []string{"url", "{", "}"}},
	} {
		r := newReader(nil)
		if err := r.text("t", []byte(tc.in)); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, it := range r.items {
			got = append(got, it.text)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: items %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"a b\tc", []string{"a", "b", "c"}},
		{`virtualhost "my host" x`, []string{"virtualhost", "my host", "x"}},
		{`a"b c"d`, []string{"a", "b c", "d"}},
		{`a ""`, []string{"a", ""}},
	} {
		got, err := words(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("words(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := words(`a "b`); err == nil {
		t.Error(`words("a \"b") did not fail`)
	}
}

func TestShellWords(t *testing.T) {
	for _, tc := range []struct {
		in      string
		escapes bool
		want    []string
	}{
		{`notify_up "/bin/x a" root`, false, []string{"notify_up", "/bin/x a", "root"}},
		{`a'b c'd "e 'f' g"`, true, []string{"ab cd", "e 'f' g"}},
		{`x\ y \x41\x4a\x4 \101\7 \cA \n\q`, true, []string{"x y", "AJ\x04", "A\x07", "\x01", "\nq"}},
		{`x\"y "\""`, false, []string{`x\"y`, `\"`}},
		{`'\'' ok`, true, []string{"'", "ok"}},
	} {
		got, err := shellWords(tc.in, tc.escapes)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("shellWords(%q, %v) = %q, %v; want %q", tc.in, tc.escapes, got, err, tc.want)
		}
	}
	for _, bad := range []string{`a "b`, `a 'b`, `a\`} {
		if _, err := shellWords(bad, true); err == nil {
			t.Errorf("shellWords(%q) did not fail", bad)
		}
	}
}

// TestShellJoin runs the joined words through sh -c and gets the same
// arguments back, as the package doc promises.
func TestShellJoin(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, argv := range [][]string{
		{"/usr/bin/check", "a b", "it's", "", `back\slash`, "$HOME", "a|b;c&d", "*", "~x", "tab\there", "nl\nx", "ok-1.2:3,4@5%6+7=8"},
	} {
		cmd := "printf '%s\\0' " + shellJoin(argv[1:])
		out, err := exec.Command(sh, "-c", cmd).Output()
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		if !reflect.DeepEqual(got, argv[1:]) {
			t.Errorf("sh -c %q gave %q, want %q", cmd, got, argv[1:])
		}
	}
	if got := shellJoin([]string{"/bin/x", "plain", "a b"}); got != "/bin/x plain 'a b'" {
		t.Errorf("shellJoin = %q", got)
	}
}

func TestExpandBraces(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"a.conf", []string{"a.conf"}},
		{"{a,b}.conf", []string{"a.conf", "b.conf"}},
		{"x/{a,b{1,2}}/y", []string{"x/a/y", "x/b1/y", "x/b2/y"}},
		{"a{}b", []string{"a{}b"}},
		{"a{b", []string{"a{b"}},
	} {
		got, err := expandBraces(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("expandBraces(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := expandBraces(strings.Repeat("{a,b,c,d}", 6)); err == nil {
		t.Error("4096 names did not fail")
	}
}

func TestParseHex(t *testing.T) {
	for _, tc := range []struct {
		in         string
		wild       bool
		data, mask []byte
		err        bool
	}{
		// The example of keepalived.conf(5).
		{in: "Ab12f 3 456 546443123", data: []byte{0xab, 0x12, 0x0f, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03}},
		{in: "0x", err: true},
		{in: "0x", wild: true, data: []byte{0x00}, mask: []byte{0xf0}},
		{in: "X1 x", wild: true, data: []byte{0x01, 0x00}, mask: []byte{0x0f, 0xf0}},
		{in: "  ", err: true},
		{in: "g", err: true},
	} {
		d, m, err := parseHex(tc.in, tc.wild)
		if tc.err {
			if err == nil {
				t.Errorf("parseHex(%q) did not fail", tc.in)
			}
			continue
		}
		if err != nil || !bytes.Equal(d, tc.data) || !bytes.Equal(m, tc.mask) {
			t.Errorf("parseHex(%q, %v) = % x, % x, %v; want % x, % x", tc.in, tc.wild, d, m, err, tc.data, tc.mask)
		}
	}
}

func TestParseTimer(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{in: "3", want: 3 * time.Second},
		{in: "2.5", want: 2500 * time.Millisecond},
		{in: ".25", want: 250 * time.Millisecond},
		{in: "7.", want: 7 * time.Second},
		{in: "0.000001", want: time.Microsecond},
		{in: "1.0000001", err: true},
		{in: "-1", err: true},
		{in: "+1", err: true},
		{in: "1e3", err: true},
		{in: ".", err: true},
		{in: "9000000001", err: true},
	} {
		got, err := parseTimer(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseTimer(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestLexicalFeatures reads files using comments, quotes, escapes, CRLF,
// one-line blocks and parameters.
func TestLexicalFeatures(t *testing.T) {
	text := "! a comment line\r\n" +
		"$VIP=192.0.2.10\r\n" +
		"$PORT=80\r\n" +
		"$CHECK= \\\r\n" +
		"  HTTP_GET { \\\r\n" +
		"    url { path \"/health#z\" } \\\r\n" + // one statement per line, even inside
		"  }\r\n" +
		"virtual_server $VIP ${PORT} { # trailing comment\r\n" +
		"  protocol TCP ; lb_kind NAT\r\n"
	if _, err := Parse("t.conf", []byte(text), nil); err == nil ||
		!strings.Contains(err.Error(), `t.conf:9: protocol: unexpected ";"`) {
		t.Fatalf("error %v", err)
	}
	text = strings.Replace(text, "protocol TCP ; lb_kind NAT", "protocol TCP\r\n  lb_kind NAT", 1) +
		"  virtualhost \"www.example.com\"\r\n" +
		"  real_server 203.0.113.11 ${PORT} { weight 2\r\n" +
		"    $CHECK\r\n" +
		"    notify_up \"/bin/echo ${_HASH} ${_BANG} $UNDEFINED\"\r\n" +
		"  }\r\n" +
		"}\r\n"
	c := mustParse(t, text)
	d := dest0(c)
	if s := service0(c); s.Addr != ip("192.0.2.10") || s.Port != 80 || d.Weight != 2 {
		t.Fatalf("service %+v", s)
	}
	if len(d.Checks) != 1 || d.Checks[0].URLs[0].Path != "/health#z" || d.Checks[0].VirtualHost != "www.example.com" {
		t.Fatalf("checks %+v", d.Checks)
	}
	if d.NotifyUp != `/bin/echo '#' '!' '$UNDEFINED'` {
		t.Fatalf("notify_up %q", d.NotifyUp)
	}
}

// TestDefinitions covers keepalived's parameter rules: late binding,
// redefinition, $NAME needing a separator, multi-line values only at the
// end of a line, and an empty line ending a multi-line definition.
func TestDefinitions(t *testing.T) {
	text := `$BASE=192.0.2.${SUB}
$SUB=1
$NOTVAR=1
$RS=real_server ${BASE}0 80 {\
}
virtual_server ${BASE}0 80 {
  protocol TCP
  lb_kind DR
  $RS
  $SUB=2
  $RS
  virtualhost x$NOTVARy
}
`
	c := mustParse(t, text)
	s := service0(c)
	if s.Addr != ip("192.0.2.10") || len(s.Dests) != 2 || s.Dests[0].Addr != ip("192.0.2.10") || s.Dests[1].Addr != ip("192.0.2.20") {
		t.Fatalf("service %+v", s)
	}
	// "$RS x" is not a multi-line reference (it does not end the line).
	if _, err := Parse("t.conf", []byte("$RS=a\\\nb\n$RS x\n"), nil); err == nil || !strings.Contains(err.Error(), `t.conf:3: unknown keyword "$RS"`) {
		t.Fatalf("error %v", err)
	}
	// An empty line ends a multi-line definition: "weight 1" is read as a
	// top-level line.
	if _, err := Parse("t.conf", []byte("$RS= \\\nreal_server 192.0.2.1 {\\\n\nweight 1 \\\n}\n"), nil); err == nil || !strings.Contains(err.Error(), `t.conf:4: unknown keyword "weight" in the top level`) {
		t.Fatalf("error %v", err)
	}
	// A line with only a comment does not end it.
	c = mustParse(t, "$RS= \\\nreal_server 203.0.113.1 80 {\\\n! comment\nweight 4 \\\n}\nvirtual_server 192.0.2.1 80 {\nprotocol TCP\nlb_kind NAT\n$RS\n}\n")
	if dest0(c).Weight != 4 {
		t.Fatalf("weight %d", dest0(c).Weight)
	}
}
