package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gdirector/gdirector/bench/forward"
	"github.com/gdirector/gdirector/bench/schedsim"
)

// command is one `gdirector bench` subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands lists the subcommands in the order usage shows them.
var commands = []command{
	{"forward", "data-plane throughput against kernel forwarding, nftables DNAT and HAProxy (root)", forward.Main},
	{"sched", "scheduler simulation: response times, shares, remapping (deterministic, no root)", schedsim.Main},
}

// Usage writes the list of subcommands.
func Usage(w io.Writer) {
	fmt.Fprintln(w, "usage: gdirector bench SUBCOMMAND [ARGS]\n\nsubcommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
}

// Main runs `gdirector bench ARGS…` (args after "bench") until done or
// until SIGINT/SIGTERM, and returns the exit code.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return Dispatch(ctx, args, os.Stdout, os.Stderr)
}

// Dispatch runs the subcommand named by args[0] with the rest of args.
func Dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		Usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		Usage(stdout)
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "gdirector bench: unknown subcommand %q\n", args[0])
	Usage(stderr)
	return 2
}
