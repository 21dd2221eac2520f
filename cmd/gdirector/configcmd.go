package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/daemon"
)

// cmdConfig is `gdirector config check FILE [--format F] [--tun]`: read and
// validate a configuration file of any format as the daemon would at
// start, without starting anything. Exit 0 (valid, a summary on standard
// output, the parser's warnings on standard error), 1 (invalid, the error with file and line on standard error) or
// 2 (usage).
func cmdConfig(args []string) int { return configMain(args, os.Stdout, os.Stderr) }

const configUsage = "usage: gdirector config check FILE [--format ipvsadm|keepalived|ldirectord|native] [--tun]\n"

func configMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprint(stderr, configUsage)
		return 2
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	formatFlag := fs.String("format", "", "the file's format: ipvsadm, keepalived, ldirectord or native (default: told from the contents)")
	tunFed := fs.Bool("tun", false, "check for a director fed by a TUN device (gdirector run --tun), which has no direct routing")
	// The file may come before or after the flags.
	var file []string
	rest := args[1:]
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			fmt.Fprint(stderr, configUsage)
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		file = append(file, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(file) != 1 {
		fmt.Fprint(stderr, configUsage)
		return 2
	}
	format, err := config.ParseFormat(*formatFlag)
	if err != nil {
		fmt.Fprintf(stderr, "gdirector config check: --format: %v\n", err)
		return 2
	}
	cfg, err := daemon.CheckConfig(file[0], format, *tunFed)
	if err != nil {
		fmt.Fprintf(stderr, "gdirector config check: %v\n", err)
		return 1
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "gdirector config check: warning: %s\n", w)
	}
	fmt.Fprintf(stdout, "%s: valid %v configuration: %s\n", file[0], cfg.Format, summary(cfg))
	return 0
}

// summary says what a configuration holds in a line.
func summary(cfg *config.Config) string {
	s := cfg.Summarize()
	parts := []string{
		plural(s.Services, "service"), plural(s.RealServers, "real server"), plural(s.Checks, "health check"),
	}
	if s.SorryServers > 0 {
		parts = append(parts, plural(s.SorryServers, "sorry server"))
	}
	if s.LocalAddrs > 0 {
		parts = append(parts, plural(s.LocalAddrs, "local address"))
	}
	if s.Marks > 0 {
		parts = append(parts, plural(s.Marks, "mark rule"))
	}
	if cfg.Timeouts != nil {
		parts = append(parts, "timeouts")
	}
	return strings.Join(parts, ", ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "ss") {
		return fmt.Sprintf("%d %ses", n, what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}
