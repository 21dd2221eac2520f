// Package header gives allocation-free views of the wire formats the
// director handles — Ethernet (with 802.1Q tags), ARP, IPv4, IPv6, TCP, UDP,
// SCTP and ICMP — and the Internet checksum, both computed in full and
// updated incrementally (RFC 1624) after a field is rewritten in place.
//
// Decode fills a Parsed with offsets and the values the data plane needs
// without allocating; the accessor types (IPv4, TCP, …) are byte slices
// that read and write fields directly in the frame.
package header
