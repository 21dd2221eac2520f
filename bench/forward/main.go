package forward

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Main is `gdirector bench forward ARGS…`: it parses args, runs the
// harness with this executable as the gdirector binary, prints progress to
// stderr and the table to stdout, writes --out, and returns the exit code
// (0 done, 1 failed, 2 usage).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opt, err := ParseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "gdirector %v\n%s\n", err, Usage)
		return 2
	}
	bin, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "gdirector bench forward: %v\n", err)
		return 1
	}
	rep, err := Run(ctx, opt, bin, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "gdirector %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout)
	if err := rep.WriteTable(stdout); err != nil {
		fmt.Fprintf(stderr, "gdirector bench forward: %v\n", err)
		return 1
	}
	for _, name := range opt.Out {
		if err := rep.WriteFile(name); err != nil {
			fmt.Fprintf(stderr, "gdirector bench forward: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "wrote %s\n", name)
	}
	return 0
}
