// Package bench holds gdirector's benchmarks behind `gdirector bench`:
// Main dispatches a subcommand (forward: the data-plane harness of package
// bench/forward) to its package. Nothing else imports bench or its
// subpackages; a subcommand is added with one entry in commands.
package bench
