// Package e2e holds the root end-to-end tests: real network namespaces
// built by package lab, the real gdirector binary as the director, real
// clients (curl, socat) and packet captures (tcpdump) read back with
// gopacket. Without root they are skipped; with CI set they fail instead.
package e2e
