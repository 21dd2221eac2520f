package schedsim

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args  []string
		check func(c Config) bool
		err   string // substring; "" = success
	}{
		{nil, func(c Config) bool {
			return c.Seed == 1 && slices.Equal(c.Weights, []int32{1, 1, 2, 4}) && len(c.Scheds) == 14 &&
				slices.Equal(c.Dists, []Dist{Exp, Pareto}) && c.Fail == 1 && c.FailMode == Quiesce
		}, ""},
		{[]string{"--seed", "42", "--out", "/tmp/x"}, func(c Config) bool { return c.Seed == 42 && c.Out == "/tmp/x" }, ""},
		{[]string{"--speeds", "1,2", "--weights", "3,0"}, func(c Config) bool {
			return slices.Equal(c.Speeds, []float64{1, 2}) && slices.Equal(c.Weights, []int32{3, 0})
		}, ""},
		{[]string{"--speeds", "1.5,2"}, nil, "give --weights"},
		{[]string{"--speeds", "1.5,2", "--weights", "1,1"}, func(c Config) bool { return c.Speeds[0] == 1.5 }, ""},
		{[]string{"--sched", "mh,rr,mh"}, func(c Config) bool { return slices.Equal(c.Scheds, []string{"rr", "mh"}) }, ""},
		{[]string{"--dist", "pareto"}, func(c Config) bool { return slices.Equal(c.Dists, []Dist{Pareto}) }, ""},
		{[]string{"--zipf", "0", "--fail", "0", "--fail-mode", "remove"}, func(c Config) bool {
			return c.Zipf == 0 && c.Fail == 0 && c.FailMode == Remove
		}, ""},
		{[]string{"--sched", "xx"}, nil, `unknown scheduler "xx"`},
		{[]string{"--sched", ""}, nil, "--sched is empty"},
		{[]string{"--sched", "rr,,wrr"}, nil, "empty item"},
		{[]string{"--dist", "normal"}, nil, "unknown distribution"},
		{[]string{"--speeds", "1,x"}, nil, "not a number"},
		{[]string{"--speeds", "1,0", "--weights", "1,1"}, nil, "--speeds 0"},
		{[]string{"--speeds", "1,NaN", "--weights", "1,1"}, nil, "--speeds NaN"},
		{[]string{"--weights", "1,1"}, nil, "one weight per server"},
		{[]string{"--weights", "1,1,1,-1"}, nil, "not a weight"},
		{[]string{"--weights", "1,1,1,70000"}, nil, "not a weight"},
		{[]string{"--load", "0"}, nil, "--load 0"},
		{[]string{"--load", "3"}, nil, "--load 3"},
		{[]string{"--duration", "-1"}, nil, "--duration"},
		{[]string{"--mean", "0"}, nil, "--mean"},
		{[]string{"--alpha", "1"}, nil, "--alpha"},
		{[]string{"--zipf", "0.5"}, nil, "--zipf"},
		{[]string{"--inact", "-1"}, nil, "--inact"},
		{[]string{"--fail", "5"}, nil, "--fail 5"},
		{[]string{"--fail-mode", "crash"}, nil, "--fail-mode"},
		{[]string{"--fail-at", "1"}, nil, "--fail-at"},
		{[]string{"--seed", "-3"}, nil, "invalid value"},
		{[]string{"--bogus"}, nil, "not defined"},
		{[]string{"extra"}, nil, `unexpected argument "extra"`},
		{[]string{"--live"}, func(c Config) bool {
			return c.Live.On && c.Duration == liveDuration && c.Inact == liveInact && c.Live.Clients == 64 &&
				c.Live.MaxConns == 3000 && c.Live.Conc == 128 && c.Live.RX == "recvmmsg"
		}, ""},
		{[]string{"--live", "--duration", "4", "--inact", "2", "--clients", "3", "--max-conns", "100", "--conc", "8", "--rx", "ring"},
			func(c Config) bool {
				return c.Duration == 4 && c.Inact == 2 && c.Live.Clients == 3 && c.Live.MaxConns == 100 &&
					c.Live.Conc == 8 && c.Live.RX == "ring"
			}, ""},
		{[]string{"--clients", "3"}, nil, "--clients needs --live"},
		{[]string{"--rx", "ring"}, nil, "--rx needs --live"},
		{[]string{"--live", "--clients", "0"}, nil, "--clients 0"},
		{[]string{"--live", "--clients", "241"}, nil, "--clients 241"},
		{[]string{"--live", "--max-conns", "0"}, nil, "--max-conns 0"},
		{[]string{"--live", "--conc", "2000"}, nil, "--conc 2000"},
		{[]string{"--live", "--rx", "xdp"}, nil, "--rx xdp"},
		{[]string{"--live", "--prefix", "a-b"}, nil, "--prefix a-b"},
		{[]string{"--live", "--prefix", "abcdefghijklm"}, nil, "--prefix"},
		{[]string{"--prefix", "gdx"}, nil, "--prefix needs --live"},
		{[]string{"--live", "--prefix", "gdx1"}, func(c Config) bool { return c.Live.Prefix == "gdx1" }, ""},
		{[]string{"--live", "--duration", "601"}, nil, "--duration 601"},
	}
	for _, tt := range tests {
		c, err := ParseArgs(tt.args, io.Discard)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want one containing %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if !tt.check(c) {
			t.Errorf("%q: got %+v", tt.args, c)
		}
	}
}

func TestParseHelp(t *testing.T) {
	var b bytes.Buffer
	if _, err := ParseArgs([]string{"-h"}, &b); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(b.String(), "usage: gdirector bench sched") {
		t.Fatalf("help output %q", b.String())
	}
}

func TestMainExitCodes(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(t.Context(), []string{"--sched", "nope"}, &out, &errb); code != 2 {
		t.Fatalf("exit %d for a bad scheduler, want 2", code)
	}
	if out.Len() != 0 || !strings.Contains(errb.String(), "unknown scheduler") {
		t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := Main(t.Context(), []string{"--sched", "rr", "--duration", "0.5", "--dist", "exp", "--fail", "0"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "exponential work") || strings.Contains(out.String(), "failure:") {
		t.Fatalf("table:\n%s", out.String())
	}
}

func FuzzParseArgs(f *testing.F) {
	f.Add("--seed 7 --speeds 1,2 --weights 1,2")
	f.Add("--sched rr,wrr --dist exp --zipf 0")
	f.Add("--fail 9 --fail-mode remove --fail-at 0.3")
	f.Add("--speeds 1e308,NaN,-0 --weights 1,2,3")
	f.Add("--live --clients 3 --max-conns 100 --conc 8 --rx ring")
	f.Add("--live --clients -1 --rx")
	f.Fuzz(func(t *testing.T, line string) {
		c, err := ParseArgs(strings.Fields(line), io.Discard)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseArgs accepted %q but Validate says %v", line, err)
		}
		if len(c.Weights) != len(c.Speeds) || len(c.Scheds) == 0 || len(c.Dists) == 0 {
			t.Fatalf("%q: inconsistent %+v", line, c)
		}
	})
}
