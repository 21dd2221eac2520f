package config

import "net/netip"

// SyncDaemon is connection synchronisation as keepalived's global_defs
// lvs_sync_daemon configures it: the sync daemon runs as master on the
// interface while the VRRP instance Instance is master, and as backup
// otherwise (package ipvssync runs it; its DaemonConfig has the same
// fields). Zero values are the kernel's defaults (syncid 0, maxlen from
// the MTU, group 224.0.0.81, port 8848, TTL 1).
type SyncDaemon struct {
	Line      int
	Interface string
	Instance  string // the VRRP instance whose state decides master or backup
	SyncID    uint8
	MaxLen    int
	Port      uint16
	TTL       uint8
	Group     netip.Addr
}
