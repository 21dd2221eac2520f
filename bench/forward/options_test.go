package forward

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	def := Defaults()
	with := func(f func(o *Options)) Options {
		o := Defaults()
		f(&o)
		return o
	}
	tests := []struct {
		args []string
		want Options
		err  string
	}{
		{args: nil, want: def},
		{args: []string{"--mode", "all"}, want: def},
		{args: []string{"--mode", "dr"}, want: with(func(o *Options) { o.Methods = []string{"dr"} })},
		{args: []string{"--mode", "fullnat,nat,nat"}, want: with(func(o *Options) { o.Methods = []string{"nat", "fullnat"} })},
		{args: []string{"--tests", "bulk-gso,udp64"}, want: with(func(o *Options) { o.Tests = []Test{TestUDP, TestBulkGSO} })},
		{args: []string{"--runs", "5", "--duration", "10s", "--warmup", "0"}, want: with(func(o *Options) {
			o.Runs, o.Duration, o.Warmup = 5, 10*time.Second, 0
		})},
		{args: []string{"--duration", "7"}, want: with(func(o *Options) { o.Duration = 7 * time.Second })},
		{args: []string{"--duration", "1m"}, want: with(func(o *Options) { o.Duration = time.Minute })},
		{args: []string{"--out", "x.CSV"}, want: with(func(o *Options) { o.Out = []string{"x.CSV"} })},
		{args: []string{"--out", "/tmp/r.json", "--out", "r.csv", "--prefix", "gdbX1", "--conns", "64", "--flows", "8"}, want: with(func(o *Options) {
			o.Out, o.Prefix, o.Conns, o.Flows = []string{"/tmp/r.json", "r.csv"}, "gdbX1", 64, 8
		})},

		{args: []string{"--mode", "ipip"}, err: `unknown method "ipip"`},
		{args: []string{"--mode", ""}, err: "unknown method"},
		{args: []string{"--mode", "nat,"}, err: "unknown method"},
		{args: []string{"--tests", "pps"}, err: `unknown test "pps"`},
		{args: []string{"--runs", "0"}, err: "--runs"},
		{args: []string{"--runs", "101"}, err: "--runs"},
		{args: []string{"--runs", "three"}, err: "--runs"},
		{args: []string{"--duration", "0"}, err: "--duration"},
		{args: []string{"--duration", "1500ms"}, err: "whole seconds"},
		{args: []string{"--duration", "11m"}, err: "--duration"},
		{args: []string{"--duration", "-5"}, err: "--duration"},
		{args: []string{"--duration", "99999999999999999999"}, err: "--duration"},
		{args: []string{"--warmup", "2m"}, err: "--warmup"},
		{args: []string{"--out", "table.txt"}, err: ".csv or .json"},
		{args: []string{"--out", "a.csv", "--out", "b"}, err: ".csv or .json"},
		{args: []string{"--prefix", "9lab"}, err: "--prefix"},
		{args: []string{"--prefix", "a-b"}, err: "--prefix"},
		{args: []string{"--prefix", strings.Repeat("a", 37)}, err: "--prefix"},
		{args: []string{"--conns", "0"}, err: "--conns"},
		{args: []string{"--flows", "1025"}, err: "--flows"},
		{args: []string{"--max-other", "100"}, want: with(func(o *Options) { o.MaxOther = 1 })},
		{args: []string{"--max-other", "0"}, want: with(func(o *Options) { o.MaxOther = 0 })},
		{args: []string{"--quiet-wait", "10m"}, want: with(func(o *Options) { o.QuietWait = 10 * time.Minute })},
		{args: []string{"--quiet-wait", "2h"}, err: "--quiet-wait"},
		{args: []string{"--max-other", "101"}, err: "--max-other"},
		{args: []string{"--max-other", "5%"}, err: "--max-other"},
		{args: []string{"--bogus"}, err: "flag provided but not defined"},
		{args: []string{"nat"}, err: "unexpected arguments"},
	}
	for _, tc := range tests {
		got, err := ParseArgs(tc.args, nil)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseArgs(%q): error %v, want one containing %q", tc.args, err, tc.err)
			}
			if !reflect.DeepEqual(got, Options{}) {
				t.Errorf("ParseArgs(%q) failed but returned %+v", tc.args, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseArgs(%q): %v", tc.args, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseArgs(%q) = %+v, want %+v", tc.args, got, tc.want)
		}
	}
}

func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{"", "--mode nat", "--mode dr,tun --runs 2", "--duration 5s --warmup 0",
		"--out a.csv", "--tests cps", "--runs -1", "--duration 1.5s", "--prefix gdb1 --conns 9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseArgs(strings.Fields(s), nil)
		if err != nil {
			if !reflect.DeepEqual(o, Options{}) {
				t.Fatalf("error %v with options %+v", err, o)
			}
			return
		}
		if o.Runs < 1 || o.Runs > 100 || o.Duration < time.Second || o.Duration%time.Second != 0 ||
			o.Warmup < 0 || o.Warmup%time.Second != 0 || len(o.Methods) == 0 || len(o.Tests) == 0 ||
			o.Conns < 1 || o.Flows < 1 || o.MaxOther < 0 || o.MaxOther > 1 {
			t.Fatalf("accepted %q as %+v", s, o)
		}
		for _, m := range o.Methods {
			if _, ok := methods[m]; !ok {
				t.Fatalf("accepted unknown method %q", m)
			}
		}
	})
}
