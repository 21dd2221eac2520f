package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gdirector/gdirector/trace"
	"github.com/gdirector/gdirector/trace/traceclient"
)

// cmdTrace runs gdirector trace: it asks the daemon for a trace stream
// and prints each event (text or JSON), and writes the frames to a pcap
// file with --pcap, until --count, --duration or Ctrl-C.
func cmdTrace(args []string) int {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fmt.Println(trace.Usage)
			return 0
		}
	}
	opt, err := trace.ParseArgs(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gdirector trace: %v\n%s\n", err, trace.Usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runTrace(ctx, opt, os.Stdout, os.Stderr)
}

// runTrace streams the trace of opt to stdout (and opt.Pcap).
func runTrace(ctx context.Context, opt trace.Options, stdout, stderr io.Writer) int {
	path := ctlPath(opt.Socket)
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	var pw *trace.PcapWriter
	var pcapBuf *bufio.Writer
	if opt.Pcap != "" {
		f, err := os.OpenFile(opt.Pcap, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			fmt.Fprintf(stderr, "gdirector trace: %v\n", err)
			return 1
		}
		defer f.Close()
		pcapBuf = bufio.NewWriter(f)
		defer pcapBuf.Flush()
		if pw, err = trace.NewPcapWriter(pcapBuf); err != nil {
			fmt.Fprintf(stderr, "gdirector trace: %s: %v\n", opt.Pcap, err)
			return 1
		}
	}
	enc := json.NewEncoder(out)
	// outErr is the error writing an event out (stdout, the pcap file),
	// as opposed to the stream's own.
	var outErr error
	each := func(r *trace.Record) error {
		if pw != nil {
			if err := pw.WriteRecord(r); err != nil {
				outErr = fmt.Errorf("%s: %w", opt.Pcap, err)
				return outErr
			}
			if outErr = pcapBuf.Flush(); outErr != nil {
				outErr = fmt.Errorf("%s: %w", opt.Pcap, outErr)
				return outErr
			}
		}
		if opt.JSON {
			outErr = enc.Encode(r)
			if err := out.Flush(); outErr == nil {
				outErr = err
			}
		} else {
			out.WriteString(r.Text())
			out.WriteString("\n")
			outErr = out.Flush()
		}
		return outErr
	}
	lost := func(n uint64) {
		out.Flush()
		fmt.Fprintf(stderr, "gdirector trace: %d events lost so far\n", n)
	}
	// As tcpdump says "listening on": the trace is live from here on
	// (the daemon acknowledged the subscription).
	ready := traceclient.OnReady(func() {
		fmt.Fprintf(stderr, "gdirector trace: tracing through %s; Ctrl-C to stop\n", path)
	})
	resp, err := traceclient.Follow(ctx, path, opt, each, lost, ready)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return 0 // Ctrl-C: the trace ends here
		}
		out.Flush()
		if outErr != nil {
			fmt.Fprintf(stderr, "gdirector trace: %v\n", outErr)
			return 1
		}
		fmt.Fprintf(stderr, "gdirector trace: daemon not reachable at %s: %v\n", path, err)
		fmt.Fprintln(stderr, "Is `gdirector run` running? (set GDIRECTOR_CTL if it uses another socket)")
		return 1
	}
	out.Flush()
	io.WriteString(stderr, resp.Stderr)
	return resp.Code
}
