package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/gdirector/gdirector/lab"
)

func cmdLab(args []string) int {
	fs := flag.NewFlagSet("lab", flag.ContinueOnError)
	mode := fs.String("mode", "nat", "forwarding method of the lab: nat, dr, tun or fullnat")
	ipv6 := fs.Bool("ipv6", false, "dual-stack lab: the same services and requests over IPv6 (2001:db8::/32) too")
	keep := fs.Bool("keep", false, "leave the lab running and print how to enter it")
	explain := fs.Bool("explain", false, "print the topology diagram, the kernel settings, the CIP/VIP/DIP/RIP table, and narrate one request hop by hop from the live trace")
	requests := fs.Int("requests", 6, "HTTP requests the client sends to the VIP")
	prefix := fs.String("prefix", "", "namespace name prefix (default gdl<pid>)")
	clean := fs.String("clean", "", "remove the kept lab with this prefix and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "gdirector lab: needs root (network namespaces); try: sudo gdirector lab")
		return 1
	}
	if *clean != "" {
		if err := lab.Clean(*clean); err != nil {
			fmt.Fprintf(os.Stderr, "gdirector lab --clean: %v\n", err)
			return 1
		}
		fmt.Printf("removed lab %s\n", *clean)
		return 0
	}
	bin, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "gdirector lab: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// Under `go run` the binary is a temporary build that is gone once the
	// command exits: tell the user to run it the same way again.
	self := bin
	if strings.Contains(bin, string(filepath.Separator)+"go-build") {
		self = "go run ./cmd/gdirector"
	}
	if err := lab.Demo(ctx, lab.DemoOptions{Bin: bin, Self: self, Mode: *mode, Prefix: *prefix, Requests: *requests, Keep: *keep, IPv6: *ipv6, Explain: *explain, Out: os.Stdout}); err != nil {
		fmt.Fprintf(os.Stderr, "gdirector lab: %v\n", err)
		return 1
	}
	return 0
}

func cmdServe(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := lab.RunServe(ctx, args, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "gdirector serve: %v\n", err)
		return 2
	}
	return 0
}
