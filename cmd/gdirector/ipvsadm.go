package main

import (
	"fmt"
	"os"

	"github.com/gdirector/gdirector/ctl"
)

// cmdIpvsadm sends the arguments to the daemon, which parses and executes
// them exactly as ipvsadm would, and relays its output and exit code.
func cmdIpvsadm(args []string) int {
	path := ctlPath("")
	resp, err := ctl.Call(path, args)
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
