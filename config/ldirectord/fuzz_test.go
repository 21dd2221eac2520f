package ldirectord

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gdirector/gdirector/config"
)

var linePrefix = regexp.MustCompile(`^fuzz\.cf:([0-9]+): `)

// FuzzParse feeds arbitrary files to Parse: it must not panic; an error
// must name a line of the file and come without a Config; a Config must
// be one the daemon accepts (config.Validate), with a check for every
// real server, warnings that name their line, and the same Config again
// from the same bytes.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"public/resource-agents-ldirectord.cf", "public/kubernetes-the-harder-way.cf", "seed.cf"} {
		f.Add(readFile(f, name))
	}
	for _, seed := range []string{
		"",
		base,
		"checktimeout=3\nnegotiatetimeout=7\nfailurecount=2\nquiescent=yes\nfallback=127.0.0.1\n" + base + "\tchecktype=4\n",
		"virtual=192.0.2.10:53\n\treal=203.0.113.11->203.0.113.14 masq 2 l:1 u:9\n\trequest=\"198.51.100.7\"\n\treceive=\"ns\"\n",
		"virtual6=[2001:db8::10]:443\n\treal6=[2001:db8:1::11]:8443 gate 1 \"https://[2001:db8::7]:9443/x\", \"ok\"\n\tfallback6=[::1] masq\n",
		"virtual=7\n\treal=203.0.113.11 gate\n\tchecktype=external-perl\n\tcheckcommand=\"/x y\"\n\tpersistent=60\n\tnetmask=255.255.255.0\n",
		"virtual=192.0.2.10:80\n\tscheduler=mh\n\tschedflags=mh-port,flag-3\n\tops=yes\n\tprotocol=udp\n\tchecktype=connect\n\treal=203.0.113.11 ipip\n",
		"fork=yes\ncheckinterval=2\n" + base + "\tcheckinterval=5\n\tchecktype=ping\n\tcheckcount=2\n",
		"virtual=192.0.2.10:389\n", "virtual = 5\n    real = 203.0.113.11:80 gate # c\n\n\t# x\n\tservice=http\n",
		"\treal=1\n", "  x=1\n", "virtual=1\n\tvirtual=2\n", "fallbackcommand=\"/bin/x\"\nvirtual6=3\n\tchecktype=on\n",
		"virtual=192.0.2.10:80\r\n\treal=203.0.113.11:80 gate 1 \"a\" \"\"\r\n", "supervised\nexecute=x\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.cf", data)
		lines := strings.Count(string(data), "\n") + 1
		if err != nil {
			if c != nil {
				t.Fatalf("a Config with the error %v", err)
			}
			m := linePrefix.FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("error %q names no line", err)
			}
			if n, _ := strconv.Atoi(m[1]); n < 1 || n > lines {
				t.Fatalf("error %q names line %d of %d", err, n, lines)
			}
			return
		}
		if err := config.Validate(c, nil); err != nil {
			t.Fatalf("accepted a Config the daemon refuses: %v", err)
		}
		for _, w := range c.Warnings {
			m := linePrefix.FindStringSubmatch(w)
			if m == nil {
				t.Fatalf("warning %q names no line", w)
			}
			if n, _ := strconv.Atoi(m[1]); n < 1 || n > lines {
				t.Fatalf("warning %q names line %d of %d", w, n, lines)
			}
		}
		for _, s := range c.Services {
			if s.Line < 1 || s.Line > lines {
				t.Fatalf("service %s at line %d of %d", s.Name, s.Line, lines)
			}
			for _, d := range s.Dests {
				if len(d.Checks) == 0 {
					t.Fatalf("real server %v of %s without a check", d.Addr, s.Name)
				}
				for _, ch := range d.Checks {
					if ch.Interval <= 0 || ch.Timeout <= 0 || ch.Retry < 0 || ch.Rise != 1 {
						t.Fatalf("check %+v", ch)
					}
				}
			}
		}
		again, err := Parse("fuzz.cf", data)
		if err != nil || !reflect.DeepEqual(c, again) {
			t.Fatalf("a second Parse differs (%v)", err)
		}
	})
}
