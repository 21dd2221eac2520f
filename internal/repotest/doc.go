// Package repotest holds the repository-level checks that run with the
// unit tests: gofmt, go vet, a doc comment on every package, and the
// package import allow-list of DESIGN.md §2 (the data plane never imports
// the control plane).
package repotest
