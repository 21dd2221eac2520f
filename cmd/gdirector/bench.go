package main

import "github.com/gdirector/gdirector/bench"

// cmdBench is `gdirector bench SUBCOMMAND …`; package bench routes the
// subcommands (forward, …).
func cmdBench(args []string) int { return bench.Main(args) }
