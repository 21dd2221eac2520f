package schedsim

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Main runs `gdirector bench sched ARGS…`: it simulates, writes the table
// to stdout and, with --out, results.csv, table.txt and the plots into
// that directory. It returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := ParseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "gdirector %v\n%s\n", err, Usage)
		return 2
	}
	if cfg.Live.On {
		return mainLive(ctx, cfg, stdout, stderr)
	}
	rep, err := Simulate(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "gdirector bench sched: %v\n", err)
		return 1
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		fmt.Fprintf(stderr, "gdirector bench sched: %v\n", err)
		return 1
	}
	if _, err := stdout.Write(table.Bytes()); err != nil {
		return 1
	}
	if cfg.Out == "" {
		return 0
	}
	if err := writeOut(rep, cfg.Out, table.Bytes(), stderr); err != nil {
		fmt.Fprintf(stderr, "gdirector bench sched: %v\n", err)
		return 1
	}
	return 0
}

// writeOut writes table.txt, results.csv and the plots into dir.
func writeOut(rep *Report, dir string, table []byte, stderr io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var csv bytes.Buffer
	if err := rep.WriteCSV(&csv); err != nil {
		return err
	}
	files := []string{filepath.Join(dir, "table.txt"), filepath.Join(dir, "results.csv")}
	if err := os.WriteFile(files[0], table, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(files[1], csv.Bytes(), 0o644); err != nil {
		return err
	}
	plots, err := rep.WritePlots(dir)
	if err != nil {
		return err
	}
	for _, f := range append(files, plots...) {
		fmt.Fprintf(stderr, "wrote %s\n", f)
	}
	return nil
}

// mainLive is `gdirector bench sched --live …`: the simulation and its
// replay through a netns lab; with --out, live-table.txt, live.csv,
// live.json and the live-p99 and live-share plots.
func mainLive(ctx context.Context, cfg Config, stdout, stderr io.Writer) int {
	lr, err := RunLive(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "gdirector bench sched --live: %v\n", err)
		return 1
	}
	var table bytes.Buffer
	if err := lr.WriteTable(&table); err != nil {
		fmt.Fprintf(stderr, "gdirector bench sched --live: %v\n", err)
		return 1
	}
	if _, err := stdout.Write(table.Bytes()); err != nil {
		return 1
	}
	if cfg.Out == "" {
		return 0
	}
	if err := writeLiveOut(lr, cfg.Out, table.Bytes(), stderr); err != nil {
		fmt.Fprintf(stderr, "gdirector bench sched --live: %v\n", err)
		return 1
	}
	return 0
}

// writeLiveOut writes live-table.txt, live.csv, live.json and the plots
// into dir.
func writeLiveOut(lr *LiveReport, dir string, table []byte, stderr io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var csv, js bytes.Buffer
	if err := lr.WriteCSV(&csv); err != nil {
		return err
	}
	if err := lr.WriteJSON(&js); err != nil {
		return err
	}
	files := []string{filepath.Join(dir, "live-table.txt"), filepath.Join(dir, "live.csv"), filepath.Join(dir, "live.json")}
	for i, data := range [][]byte{table, csv.Bytes(), js.Bytes()} {
		if err := os.WriteFile(files[i], data, 0o644); err != nil {
			return err
		}
	}
	plots, err := lr.WritePlots(dir)
	if err != nil {
		return err
	}
	for _, f := range append(files, plots...) {
		fmt.Fprintf(stderr, "wrote %s\n", f)
	}
	return nil
}
