// Package ipvssync is IPVS connection synchronisation between directors:
// a master sends the connections it creates or whose state changes (and
// its persistence templates) to backups, which install them without
// scheduling, so that after a failover the new master forwards the
// established connections to the same real servers.
//
// # Wire format
//
// The messages are the kernel's sync protocol version 1 (ip_vs_sync.c),
// byte for byte, so that a gdirector backup follows a kernel master and
// the other way round, and so that the tools LVS users know (tcpdump on
// UDP 8848, ipvsadm --start-daemon, keepalived's lvs_sync_daemon) apply:
// an 8-byte header {0, syncid, size, nr_conns, version 1, 0}, then up to
// 255 records, each {type (bit 0: IPv6), protocol, version<<12|size,
// flags, state, cport, vport, dport, fwmark, timeout (s), caddr, vaddr,
// daddr} followed by optional parameters {type, length, data} (sequence
// data, persistence-engine data and name) and padded to 32 bits before
// the next record. Multicast group 224.0.0.81, port 8848, TTL 1 by
// default. Decode also reads version 0 messages (IPv4 only, no timeout);
// Builder writes version 1 into a caller buffer without allocating.
//
// gdirector adds one optional parameter (type 0x60, the kernel's "may be
// ignored" bit set) carrying a FullNAT connection's local address and
// port, and forwarding code 5 for FullNAT; a kernel backup skips the
// parameter.
//
// # Master
//
// conntrack calls the Syncer (a Queue) on every new hashed connection or
// template and on every TCP state change: Queue.Push is a lock-free,
// lossy push of the *Conn onto one of 16 bounded rings (drops counted),
// with no allocation, lock or syscall on the packet path. The Sender's
// goroutine drains the rings every 20 ms, reads each connection's state
// then (so a burst of changes costs one record), keeps what the kernel's
// ip_vs_sync_conn_needed would (templates; UDP; TCP in ESTABLISHED,
// FIN_WAIT, TIME_WAIT, CLOSE, CLOSE_WAIT; never one-packet connections),
// adds each connection's controlling template after it, and sends a
// message as soon as it is full (the interface MTU less 28 bytes, the
// kernel's sync_maxlen) or once its first record is 1 s old. The kernel
// holds a partial message up to 2 s; 1 s halves what a failover can lose
// for a few more small datagrams on a quiet director. Every 60 s the Sender
// also walks the table and sends every connection again, standing in for
// the kernel's packet-count resync (sync_period), so that a backup keeps
// long established connections that change no state past their timeout.
//
// # Backup
//
// The Receiver checks the source against an allow-list, then the syncid
// (0 accepts any, as in the kernel), decodes, and for each record finds
// the service (by mark, else protocol/VIP/port, else the port-zero
// service) and the real server in the current vs.Table, as
// ip_vs_find_dest does. A record whose service or real server is not
// configured is skipped and counted (the kernel installs it unbound; here
// it would be a connection no table change could repair). A new entry is
// created with conntrack.FlagSynced (not counted in Stats.Conns, which
// counts scheduling) and given the record's state, Inactive flag and
// timeout; an existing one has them updated; one bound to another real
// server is replaced, unless the record is inactive (the kernel's rule:
// the late expiry notice of a replaced connection). Dest.ActiveConns and
// InactConns follow, so the backup's ipvsadm -L shows the master's counts
// and its schedulers start from them after a failover. The forwarding
// method is the local real server's, as in ip_vs_bind_dest.
//
// # Authentication
//
// The kernel's protocol has none: it was meant for a dedicated link or a
// link-local multicast group (TTL 1) between directors of one site, and
// any host that can send to the group can install connections on every
// backup, pointing clients at any real server of the configuration. So a
// Receiver refuses to run without an allow-list of source addresses (by
// default the subnets of the sync interface; for unicast the peers) and
// counts what it refuses by reason. Source addresses can be forged on a
// shared segment, so DaemonConfig.Key adds an HMAC-SHA256 trailer with a
// timestamp (see auth.go), checked before anything else is read; it works
// only between gdirector nodes (a kernel peer refuses such datagrams, and a
// keyed gdirector refuses a kernel's), which is why it is optional.
//
// Daemons runs one master and one backup at most, started and stopped at
// run time, as ipvsadm --start-daemon/--stop-daemon and keepalived's
// lvs_sync_daemon ask.
package ipvssync
