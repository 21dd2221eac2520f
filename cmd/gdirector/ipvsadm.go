package main

import (
	"fmt"
	"io"
	"os"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/ipvsadm"
)

// cmdIpvsadm sends the arguments to the daemon, which parses and executes
// them exactly as ipvsadm would, and relays its output and exit code. For
// ipvsadm -R it sends its standard input along: the daemon applies those
// rules all or nothing.
func cmdIpvsadm(args []string) int {
	path := ctlPath("")
	req := ctl.Request{Argv: args}
	if ipvsadm.ReadsInput(args) {
		in, err := io.ReadAll(io.LimitReader(os.Stdin, ctl.MaxRequest+1))
		if err != nil {
			fmt.Fprintf(os.Stderr, "ipvsadm -R: reading standard input: %v\n", err)
			return 2
		}
		req.Input = string(in)
		if err := ctl.CheckSize(req); err != nil {
			fmt.Fprintf(os.Stderr, "ipvsadm -R: standard input too large: %v (the rules of one -R travel in one request)\n", err)
			return 2
		}
	}
	resp, err := ctl.Send(path, req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Can't initialize ipvs: gdirector daemon not reachable at %s: %v\n", path, err)
		fmt.Fprintln(os.Stderr, "Is `gdirector run` running? (set GDIRECTOR_CTL if it uses another socket)")
		return 1
	}
	os.Stdout.WriteString(resp.Stdout)
	os.Stderr.WriteString(resp.Stderr)
	return resp.Code
}

// cmdCtl sends a gdirector command (mark, …) to the daemon and relays its
// answer.
func cmdCtl(cmd string, args []string) int {
	path := ctlPath("")
	resp, err := ctl.CallCmd(path, cmd, args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gdirector %s: daemon not reachable at %s: %v\n", cmd, path, err)
		fmt.Fprintln(os.Stderr, "Is `gdirector run` running? (set GDIRECTOR_CTL if it uses another socket)")
		return 1
	}
	os.Stdout.WriteString(resp.Stdout)
	os.Stderr.WriteString(resp.Stderr)
	return resp.Code
}
