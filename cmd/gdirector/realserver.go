package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/gdirector/gdirector/realserver"
)

// cmdRealserver configures the real-server side of DR and TUN:
// `gdirector realserver dr|tun ...` (see realserver.Usage).
func cmdRealserver(args []string) int {
	c, err := realserver.ParseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Print(realserver.Usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gdirector realserver: %v\n\n%s", err, realserver.Usage)
		return 2
	}
	if c.Undo {
		s, err := realserver.Undo(c.StateDir, c.Mode)
		if errors.Is(err, realserver.ErrNoState) {
			fmt.Printf("gdirector realserver %s --undo: nothing to undo (no state file %s)\n",
				c.Mode, realserver.StatePath(c.StateDir, c.Mode))
			return 0
		}
		if s != nil {
			printLog(s)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "gdirector realserver %s --undo: %v\n", c.Mode, err)
			return 1
		}
		return 0
	}
	if c.Mode == realserver.ModeDR {
		s, err := realserver.SetupDR(c.DR)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gdirector realserver dr: %v\n", err)
			return 1
		}
		if len(s.Log) == 0 {
			fmt.Println("already configured: nothing changed")
		}
		printLog(s)
		if p := s.Path(); p != "" {
			fmt.Printf("state: %s (undo with: gdirector realserver dr --undo)\n", p)
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	c.Tun.Logf = func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	c.Tun.Ready = func() {
		fmt.Fprintf(os.Stderr, "decapsulating for %v into %s; stop with SIGTERM or SIGINT\n", c.Tun.VIPs, c.Tun.TunName)
	}
	stats, err := realserver.RunTun(ctx, c.Tun)
	fmt.Fprintf(os.Stderr, "gdirector realserver tun: %s\n", stats)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gdirector realserver tun: %v\n", err)
		return 1
	}
	return 0
}

// printLog prints what a setup or undo changed, then its remarks.
func printLog(s *realserver.State) {
	for _, l := range append(s.Log, s.Notes...) {
		fmt.Println(l)
	}
}
