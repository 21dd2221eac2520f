package ipvsadm

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gdirector/gdirector/ctl"
)

func TestReadRules(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []rule
	}{
		{"empty", "", nil},
		{"blank lines", "\n \n\t\r\n", nil},
		{"one", "-A -t 192.0.2.10:80 -s rr\n", []rule{{1, split("-A -t 192.0.2.10:80 -s rr")}}},
		{"no final newline", "-C\n-Z", []rule{{1, []string{"-C"}}, {2, []string{"-Z"}}}},
		{"line numbers count blank lines", "\n\n-C\n\n-Z\n", []rule{{3, []string{"-C"}}, {5, []string{"-Z"}}}},
		{"program name dropped", "ipvsadm -C\n-A ipvsadm -t 192.0.2.10:80\n", []rule{{1, []string{"-C"}}, {2, split("-A -t 192.0.2.10:80")}}},
		{"program name alone", "ipvsadm\n", nil},
		{"blanks", "  -a\t-t  192.0.2.10:80 \t-r 203.0.113.1\r\n", []rule{{1, split("-a -t 192.0.2.10:80 -r 203.0.113.1")}}},
		{"CRLF", "-C\r\n-Z\r\n", []rule{{1, []string{"-C"}}, {2, []string{"-Z"}}}},
		{"comments", "# saved by ipvsadm -S\n-C # flush\n   # indented\n-A -t 192.0.2.10:80#x\n",
			[]rule{{2, []string{"-C"}}, {4, split("-A -t 192.0.2.10:80")}}},
		{"other white space is part of a word", "-C\v-Z\n", []rule{{1, []string{"-C\v-Z"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readRules(strings.NewReader(tc.in))
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("readRules(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
	long := "-C\n" + strings.Repeat("x", maxRuleLine+1) + "\n"
	_, err := readRules(strings.NewReader(long))
	var re *RuleError
	if !errors.As(err, &re) || re.Line != 2 || re.Code != exitArgs {
		t.Fatalf("too long a line: %v", err)
	}
}

// TestRestore: ipvsadm -R applies all its lines or none. A failing line
// anywhere leaves the whole configuration (tables, settings, counters) as
// it was and names the line after ipvsadm's message.
func TestRestore(t *testing.T) {
	const nothing = "; nothing was changed\n"
	for _, tc := range []struct {
		name, in     string
		code         int
		stdout       string
		stderr       string // the end of standard error, when code is not 0
		save         string // -S -n afterwards, when code is 0
		keepCounters bool
	}{
		{name: "empty", in: ""},
		{name: "rules", in: "# a comment\n" +
			"-A -t 192.0.2.20:80 -s rr\n" +
			"\n" +
			"ipvsadm -a -t 192.0.2.20:80 -r 203.0.113.21:80 -m -w 1\n" +
			"-a\t-t 192.0.2.20:80 -r 203.0.113.22:80 -g -w 2\r\n" +
			"-e -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 7\n" +
			"-D -u 192.0.2.10:53\n",
			save: "-A -t 192.0.2.10:80 -s rr\n" +
				"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m -w 1\n" +
				"-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 7\n" +
				"-A -t 192.0.2.20:80 -s rr\n" +
				"-a -t 192.0.2.20:80 -r 203.0.113.21:80 -m -w 1\n" +
				"-a -t 192.0.2.20:80 -r 203.0.113.22:80 -g -w 2\n" +
				"-A -f 7 -s rr -p 360\n",
			keepCounters: true},
		{name: "listing inside", in: "-D -u 192.0.2.10:53\n-D -f 7\n-L -n\n", stdout: hdr + title +
			"TCP  192.0.2.10:80 rr\n" +
			"  -> 203.0.113.11:80              Masq    1      0          0         \n" +
			"  -> 203.0.113.12:80              Masq    2      0          0         \n",
			save: "-A -t 192.0.2.10:80 -s rr\n" +
				"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m -w 1\n" +
				"-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 2\n"},
		{name: "refused operation", in: "-A -t 192.0.2.20:80 -s rr\n" +
			"-a -t 192.0.2.20:80 -r 203.0.113.21:80 -m\n" +
			"-e -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 7\n" +
			"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m\n" +
			"-C\n",
			code: exitKernel, stderr: "Destination already exists\nRestore failed at line 4" + nothing},
		{name: "argument error after a flush", in: "-C\n-Z\n\n-A -t bad\n",
			code: exitArgs, stderr: "illegal virtual server address[:port] specified\nRestore failed at line 4" + nothing},
		{name: "argument error before refused ones", in: "-D -t 192.0.2.99:80\n-A -t 192.0.2.20:80 -s nope -x 3\n",
			code: exitArgs, stderr: "Restore failed at line 2" + nothing},
		{name: "unknown scheduler", in: "-C\n-A -t 192.0.2.20:80 -s nope\n",
			code: exitKernel, stderr: "Scheduler or persistence engine not found\nRestore failed at line 2" + nothing},
		{name: "missing service for -L", in: "-C\n-L -t 192.0.2.10:80\n", code: exitList},
		{name: "nested restore", in: "-C\n-R\n", code: exitKernel, stderr: tryHelpMsg + "Restore failed at line 2" + nothing},
		{name: "help", in: "-C\n-h\n", code: exitArgs, stderr: "Help and version requests are not rules\nRestore failed at line 2" + nothing},
		{name: "popt error", in: "-C\n-A -t\n", code: exitKernel, stderr: "-t: missing argument\nRestore failed at line 2" + nothing},
		{name: "no command", in: "-C\n-n\n", code: exitKernel, stderr: tryHelpMsg + "Restore failed at line 2" + nothing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, tbl := newManager(t, base)
			for _, s := range m.Table().Services {
				s.Stats.Conns.Store(50)
				for _, d := range s.Dests {
					d.Stats.InPkts.Store(60)
				}
			}
			before, beforeDump := tbl.Load(), dump(m)
			out, errOut, code := RunInput(m, []string{"-R"}, strings.NewReader(tc.in))
			if code != tc.code || code == 0 && errOut != "" || code != 0 && !strings.HasSuffix(errOut, tc.stderr) {
				t.Fatalf("code %d stderr %q; want %d %q", code, errOut, tc.code, tc.stderr)
			}
			if code != 0 {
				if out != "" {
					t.Fatalf("a failed restore printed %q", out)
				}
				if !strings.Contains(errOut, "Restore failed at line") {
					t.Fatalf("no line in %q", errOut)
				}
				if tbl.Load() != before || dump(m) != beforeDump {
					t.Fatalf("a failed restore changed the configuration:\n%s\nwas\n%s", dump(m), beforeDump)
				}
				return
			}
			if out != tc.stdout {
				t.Fatalf("stdout %q, want %q", out, tc.stdout)
			}
			if tc.save != "" {
				if s := listing(t, m, "-S -n"); s != tc.save {
					t.Fatalf("after restore:\n%s\nwant\n%s", s, tc.save)
				}
			}
			if tc.keepCounters {
				s := m.Table().Services[0]
				if s.Stats.Conns.Load() != 50 || destOf(t, s, "203.0.113.12:80").Stats.InPkts.Load() != 60 {
					t.Fatal("counters lost")
				}
			}
		})
	}
}

// TestRestoreRoundTrip: -S output restored after -C gives the same -S
// output again; as with the kernel's dest trash, the real servers come
// back as the same objects, with their connections.
func TestRestoreRoundTrip(t *testing.T) {
	m, _ := newManager(t, fuzzBase)
	save := listing(t, m, "-S -n")
	d := destOf(t, m.Table().Services[0], "203.0.113.11:80")
	d.ActiveConns.Store(1)
	if _, e, c := Run(m, split("-C")); c != 0 {
		t.Fatal(e)
	}
	if s := listing(t, m, "-S -n"); s != "" {
		t.Fatalf("after -C: %q", s)
	}
	if o, e, c := RunInput(m, []string{"-R"}, strings.NewReader(save)); c != 0 || o != "" || e != "" {
		t.Fatalf("restore: %q %q %d", o, e, c)
	}
	if again := listing(t, m, "-S -n"); again != save {
		t.Fatalf("-S | -R differs:\n%s\nwant\n%s", again, save)
	}
	if destOf(t, m.Table().Services[0], "203.0.113.11:80") != d {
		t.Fatal("a busy real server did not come back from the trash")
	}
	// And into a fresh table, as in TestSaveRestoresSame.
	m2, _ := newManager(t, nil)
	if _, e, c := RunInput(m2, []string{"--restore"}, strings.NewReader(save)); c != 0 {
		t.Fatal(e)
	}
	if again := listing(t, m2, "-S -n"); again != save {
		t.Fatalf("-S | -R into an empty table differs:\n%s\nwant\n%s", again, save)
	}
}

// TestReplace: loading a configuration file over a running one keeps
// what stays (dest objects, counters, scheduler instances) and changes
// the rest; a bad file changes nothing and names its line.
func TestReplace(t *testing.T) {
	m, tbl := newManager(t, base)
	web := m.Table().Services[0]
	d11, d12 := destOf(t, web, "203.0.113.11:80"), destOf(t, web, "203.0.113.12:80")
	d11.Stats.Conns.Store(9)
	conf := "# the director's configuration\n" +
		"-A -t 192.0.2.10:80 -s rr\n" +
		"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m -w 1\n" +
		"-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 5\n" +
		"-A -t 192.0.2.30:443 -s wrr\n" +
		"-a -t 192.0.2.30:443 -r 203.0.113.31:443 -m -w 1\n"
	ch, err := Replace(m, strings.NewReader(conf))
	if err != nil {
		t.Fatal(err)
	}
	want := ctl.Changes{ServicesAdded: 1, ServicesRemoved: 2, DestsAdded: 1, DestsEdited: 1, Published: true}
	if ch != want {
		t.Fatalf("changes %+v, want %+v", ch, want)
	}
	web2 := m.Table().Services[0]
	if web2.Sched != web.Sched || destOf(t, web2, "203.0.113.11:80") != d11 || destOf(t, web2, "203.0.113.12:80") != d12 ||
		d12.Weight.Load() != 5 || d11.Stats.Conns.Load() != 9 {
		t.Fatal("identity, counters or the new weight lost")
	}
	wantSave := "-A -t 192.0.2.10:80 -s rr\n" +
		"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m -w 1\n" +
		"-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 5\n" +
		"-A -t 192.0.2.30:443 -s wrr\n" +
		"-a -t 192.0.2.30:443 -r 203.0.113.31:443 -m -w 1\n"
	if s := listing(t, m, "-S -n"); s != wantSave {
		t.Fatalf("after replace:\n%s", s)
	}
	// The same file again: no change, no publication.
	tb := tbl.Load()
	if ch, err := Replace(m, strings.NewReader(conf)); err != nil || ch.Published || tbl.Load() != tb {
		t.Fatalf("reloading the same file: %+v %v", ch, err)
	}
	// A bad line anywhere: nothing changes.
	before := dump(m)
	for _, bad := range []struct {
		text string
		line int
		msg  string
	}{
		{conf + "-a -t 192.0.2.30:443 -r 203.0.113.31:443 -m\n", 7, "Destination already exists"},
		{"-A -t 192.0.2.10:80 -s rr\n-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m -w x\n", 2, "illegal weight specified"},
		{"-C\n-R\n", 2, strings.TrimSuffix(tryHelpMsg, "\n")},
		{"-A -t 192.0.2.10:80\n-A -t 192.0.2.10:80\n", 2, "Service already exists"},
	} {
		_, err := Replace(m, strings.NewReader(bad.text))
		var re *RuleError
		if !errors.As(err, &re) || re.Line != bad.line || re.Msg != bad.msg {
			t.Errorf("Replace(%q): %v, want line %d %q", bad.text, err, bad.line, bad.msg)
		}
		if tbl.Load() != tb || dump(m) != before {
			t.Fatalf("a bad file changed the configuration")
		}
	}
	// An empty file removes everything.
	if ch, err := Replace(m, strings.NewReader("")); err != nil || ch.ServicesRemoved != 2 || len(m.Table().Services) != 0 {
		t.Fatalf("empty file: %+v %v", ch, err)
	}
}

func TestReadsInput(t *testing.T) {
	for _, tc := range []struct {
		argv string
		want bool
	}{
		{"-R", true},
		{"--restore", true},
		{"-R -n", false},
		{"-R 192.0.2.1", false},
		{"-S", false},
		{"-L -n", false},
		{"-Rn", false},
		{"-C -R", false},
		{"", false},
		{"--rest", false},
		{"-A -t 192.0.2.10:80 -R", false},
		{"-- -R", false},
	} {
		if got := ReadsInput(split(tc.argv)); got != tc.want {
			t.Errorf("ReadsInput(%q) = %v, want %v", tc.argv, got, tc.want)
		}
	}
}

// FuzzReadsInput: any command line; ReadsInput must not panic and agree
// with what the command does.
func FuzzReadsInput(f *testing.F) {
	for _, s := range []string{"-R", "--restore", "-R -n", "-Rn", "-L", "-R=", "--restore=1", "-- -R", "-R -- x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		argv := strings.Split(line, " ")
		if !ReadsInput(argv) {
			return
		}
		// A command that reads input is a restore: with a flush as
		// input it empties the table.
		m, _ := newManager(t, base)
		if _, e, c := RunInput(m, argv, strings.NewReader("-C\n")); c != 0 || len(m.Table().Services) != 0 {
			t.Fatalf("ReadsInput(%q) but it did not restore: %q %d", line, e, c)
		}
	})
}

// FuzzRestore: arbitrary -R input (newline-separated command lines). A
// failed restore leaves everything as it was; a successful one leaves the
// table as running the same lines one by one would.
func FuzzRestore(f *testing.F) {
	for _, seed := range []string{
		"", "-C", "-C\n-R", "# c\n-Z\n", "-A -t 192.0.2.20:80 -s rr\n-a -t 192.0.2.20:80 -r 203.0.113.21 -m\n",
		"-d -t 192.0.2.10:80 -r 203.0.113.11:80\n-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m -w 9\n",
		"-D -t 192.0.2.10:80\n-A -t 192.0.2.10:80 -s wrr\n-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m\n",
		"-E -t 192.0.2.10:80 -s wlc\n-e -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 0\n-L -n\n",
		"--set 1 2 3\n-L --timeout\n", "-Q -t 192.0.2.10:80 -z 198.51.100.250\n-P -t 192.0.2.10:80 -z 198.51.100.251\n",
		"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m\n", "-A -t bad\n", "ipvsadm -C\r\nipvsadm -S -n\n",
		"-C\n-A -t [2001:db8::10]:443 -s rr\n-a -t [2001:db8::10]:443 -r [2001:db8:1::1]:443 -b\n-G\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m, tbl := newManager(t, fuzzBase)
		before, beforeDump := tbl.Load(), dump(m)
		out, errOut, code := RunInput(m, []string{"-R"}, strings.NewReader(in))
		if code != 0 {
			if out != "" || !strings.Contains(errOut, "Restore failed") {
				t.Fatalf("failed restore: %q %q", out, errOut)
			}
			if tbl.Load() != before || dump(m) != beforeDump {
				t.Fatalf("failed restore (%q) changed the configuration", errOut)
			}
			return
		}
		// The same lines one at a time.
		seq, _ := newManager(t, fuzzBase)
		rules, err := readRules(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		var seqOut strings.Builder
		for _, ru := range rules {
			o, e, c := Run(seq, ru.words)
			if c != 0 {
				t.Fatalf("restore succeeded but line %d fails on its own: %q", ru.line, e)
			}
			seqOut.WriteString(o)
		}
		if out != seqOut.String() {
			t.Fatalf("restore printed\n%s\nline by line\n%s", out, seqOut.String())
		}
		for _, l := range []string{"-S -n", "-L -n --nosort", "-G", "-L --timeout"} {
			if a, b := listing(t, m, l), listing(t, seq, l); a != b {
				t.Fatalf("%s after restore:\n%s\nline by line:\n%s", l, a, b)
			}
		}
	})
}

// FuzzReplace: arbitrary configuration files. A bad one changes nothing;
// a good one gives the table an empty one would get, and loading it again
// changes nothing.
func FuzzReplace(f *testing.F) {
	for _, seed := range []string{
		"", "-A -t 192.0.2.10:80 -s rr\n", strings.Join(fuzzBase, "\n"),
		strings.Join(base, "\n") + "\n-e -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 9\n",
		"-A -t 192.0.2.10:80 -s wrr\n-a -t 192.0.2.10:80 -r 203.0.113.11 -m -x 10 -y 5\n-Z\n",
		"-A -u 192.0.2.10:53 -s wrr -o\n--set 10 20 30\n-A -t bad\n", "-C\n-C\n-L -n\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m, tbl := newManager(t, fuzzBase)
		before, beforeDump := tbl.Load(), dump(m)
		_, err := Replace(m, strings.NewReader(in))
		if err != nil {
			var re *RuleError
			if !errors.As(err, &re) || re.Line < 1 || re.Msg == "" {
				t.Fatalf("error %v is not a RuleError with a line and a message", err)
			}
			if tbl.Load() != before || dump(m) != beforeDump {
				t.Fatalf("a bad file (%v) changed the configuration", err)
			}
			return
		}
		fresh, _ := newManager(t, nil)
		if _, err := Replace(fresh, strings.NewReader(in)); err != nil {
			t.Fatalf("good on a full table, bad on an empty one: %v", err)
		}
		for _, l := range []string{"-S -n", "-G", "-L -n --thresholds"} {
			if a, b := listing(t, m, l), listing(t, fresh, l); a != b {
				t.Fatalf("%s after replacing:\n%s\nfrom empty:\n%s", l, a, b)
			}
		}
		tb := tbl.Load()
		if ch, err := Replace(m, strings.NewReader(in)); err != nil || ch.Published || tbl.Load() != tb {
			t.Fatalf("loading the same file again: %+v %v", ch, err)
		}
	})
}
