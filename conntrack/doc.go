// Package conntrack is the IPVS connection table: one Conn per connection
// the director forwards, found from either direction, with the IPVS TCP
// state machine, the active/inactive accounting on the real server (Dest),
// run-time timeouts and bounded incremental expiry.
//
// # Model and kernel mapping
//
// A Conn is the kernel's struct ip_vs_conn reduced to what a userspace
// director needs: protocol and family, client (CAddr:CPort), virtual
// (VAddr:VPort), real server (DAddr:DPort) and, for FullNAT, local
// (LAddr:LPort) address, forwarding method, Dest, Service, state, flags and
// expiry.
//
//   - Table.New is ip_vs_conn_new followed by ip_vs_bind_dest: the
//     connection starts in state NONE with a 3 s timeout, carries the
//     Inactive flag (the kernel ORs IP_VS_CONN_F_INACTIVE into every dest's
//     conn_flags) and NoOutput for every method but NAT/FullNAT, increments
//     Dest.InactConns (PersistConns for templates), sets the Dest's overload
//     flag at its upper threshold, and counts Stats.Conns of the Dest and
//     Service (ip_vs_conn_stats).
//
//   - Conn.Update is the protocol's state_transition: for TCP the three
//     transition tables of ip_vs_proto_tcp.c (input, output, input-only),
//     the event picked from the flags with the priority RST, SYN, FIN, ACK
//     (a packet with none of them moves to CLOSE), the NoOutput rule (an
//     input packet uses the input-only table until a reply is seen), and
//     set_tcp_state's accounting: leaving an active state moves the
//     connection from ActiveConns to InactConns, entering one moves it
//     back. Active states are ESTABLISHED, SYN_SENT, SYN_RECV and SYNACK,
//     as in current kernels (tcp_state_active_table). UDP just refreshes
//     the UDP timeout and stays inactive, as in ip_vs_proto_udp.c.
//
//   - Expire, Delete and Flush end with ip_vs_unbind_dest: decrement
//     InactConns or ActiveConns by the Inactive flag, clear overload by the
//     thresholds.
//
//   - SetTimeouts is ip_vs_set_timeout (ipvsadm --set).
//
//   - LookupIn is ip_vs_conn_in_get. LookupOut is ip_vs_conn_out_get: the
//     out-key of a NAT or FullNAT connection is DAddr:DPort → LAddr:LPort;
//     for DR, TUN and Local the real server answers from the VIP, so it is
//     VAddr:VPort → CAddr:CPort (as in the kernel, and so that one client
//     port reused towards two VIPs served by the same real server does not
//     collide). NAT connections can still share an out-key (one client
//     port to one real server through two services, the first often in
//     TIME_WAIT): as the kernel does, the table keeps both and LookupOut
//     returns the newest live one. A FullNAT out-key is a local port and
//     stays exclusive (New refuses it with ErrExists).
//
//   - Persistence templates (FlagTemplate) are the kernel's connection
//     templates: New with FlagTemplate and Params.Timeout creates one under
//     a Template key (LookupTemplate finds it, LookupIn never does), Touch
//     restarts its timeout on each use, a connection created with
//     Params.Control counts in the template's Controlled (n_control) while
//     it lives, and Expire leaves a template that still controls
//     connections for another timeout, as ip_vs_conn_expire does.
//
// Not modelled: the secure_tcp (defense) tables and SCTP states.
// Connection sync (the kernel's ip_vs_sync) hooks in through SetSyncer.
//
// # Concurrency
//
// Lookups take no lock. The index is one hash table for both directions
// (a connection has an in-entry and an out-entry, a template only the
// first), split into 256 shards by hash; each shard is an open-addressing
// table of 64-bit slots read atomically, whose writers (insert, delete,
// resize) are serialised by the shard's mutex. A resize publishes a new
// array atomically and the garbage collector reclaims the old one once no
// reader holds it, the part RCU plays in the kernel. Compared with an
// RWMutex per shard, readers write no shared cache line at all, so lookups
// scale with the number of workers even on a hot shard. See index.go for
// the invariants that make this safe.
//
// A slot holds a connection's 32-bit id, resolved through the table's
// registry (registry.go), and 32 bits of its hash; the slot arrays hold no
// pointers (the garbage collector skips them) and a resize reads no Conn.
// A removed connection's id is given to the next connection at once; a
// lookup confirms every candidate against the Conn's own fields and
// liveness, so an id met on a stale array is harmless.
//
// A Conn's mutable state (TCP state, Inactive/NoOutput/dead flags, expiry)
// is one 64-bit word changed by compare-and-swap: Update is lock-free, the
// Dest counter changes follow exactly the flag change its CAS made, and
// removal marks the word dead with the same CAS, so a racing Update can
// never move a counter of a connection already unbound. A Conn is an
// ordinary heap object, never reused for another connection (it is garbage
// collected only when unreferenced), so using a stale *Conn once more, or
// deleting it again, is harmless.
//
// New and removals lock the shards of the connection's two entries (in
// shard order) for a few dozen nanoseconds. Expire walks the registry
// without locks, resumes from a cursor, does at most a given budget of
// work per call, and locks only to remove an expired connection.
//
// Time is the caller's: every method takes now, monotonic nanoseconds read
// once per batch (see internal/clock), and nothing here reads a clock.
// Expiry is stored with 256 ns resolution, rounded up.
//
// # Memory
//
// A Conn is 112 bytes, a Go size class, and holds no copy of its keys:
// what only templates need (timeout, count of controlled connections) and
// the table's timeouts are reached through one shared pointer. Each index
// entry is an 8-byte slot at a load between 0.7 and 0.875, two per
// connection, and the registry holds one 8-byte pointer per connection, so
// a connection costs about 140 bytes in all, 1.3 GiB for 10 million
// (BenchmarkMemory10M measures it; TestMemoryPerConn checks it loosely).
// Capacity bounds the number of connections; ErrTableFull is returned
// beyond it.
package conntrack
