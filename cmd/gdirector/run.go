package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/gdirector/gdirector/daemon"
)

func cmdRun(args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var ifaces multiFlag
	fs.Var(&ifaces, "iface", "interface to serve (repeat for each; at least one)")
	tunDev := fs.String("tun", "", "feed the director from this TUN device (created if missing) instead of --iface; the host routes VIP traffic and NAT replies into it")
	ctlFlag := fs.String("ctl", "", "control socket path (default $GDIRECTOR_CTL or "+defaultCtl+")")
	maxConns := fs.Int("max-conns", 0, "connection table capacity (default 1048576)")
	quiet := fs.Bool("quiet", false, "log nothing but errors")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if (len(ifaces) == 0) == (*tunDev == "") || fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: gdirector run --iface NAME [--iface NAME...] | --tun NAME  [--ctl PATH]")
		return 2
	}
	logger := log.New(os.Stderr, "", log.LstdFlags)
	logf := logger.Printf
	if *quiet {
		logf = func(string, ...any) {}
	}
	path := ctlPath(*ctlFlag)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := daemon.Run(ctx, daemon.Options{
		Ifaces: ifaces, Tun: *tunDev, CtlPath: path, MaxConns: *maxConns, Logf: logf,
		Ready: func() {
			serving := fmt.Sprint([]string(ifaces))
			if *tunDev != "" {
				serving = "TUN device " + *tunDev
			}
			logf("gdirector %s: serving %s, control socket %s", Version, serving, path)
		},
	})
	if err != nil {
		logger.Printf("gdirector: %v", err)
		return 1
	}
	logf("gdirector: stopped")
	return 0
}
