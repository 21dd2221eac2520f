package keepalived

import (
	"net/netip"

	"github.com/gdirector/gdirector/config"
)

// parseSyncDaemon reads global_defs' "lvs_sync_daemon IFACE INSTANCE
// [id N] [maxlen N] [port N] [ttl N] [group ADDR]" (keepalived's
// lvs_syncd_handler, with its ranges: id 0-255, maxlen 1-65507, port
// 1-65535, ttl 1-255, group a multicast address).
func parseSyncDaemon(s stmt) (*config.SyncDaemon, error) {
	if len(s.args) < 2 {
		return nil, s.errf("lvs_sync_daemon: needs an interface and a VRRP instance")
	}
	sd := &config.SyncDaemon{Line: s.line, Interface: s.args[0], Instance: s.args[1]}
	if len(sd.Interface) > 15 {
		return nil, s.errf("lvs_sync_daemon: interface name %q is longer than 15 bytes", sd.Interface)
	}
	seen := map[string]bool{}
	for i := 2; i < len(s.args); i += 2 {
		opt := s.args[i]
		if i+1 == len(s.args) {
			return nil, s.errf("lvs_sync_daemon: %s needs a value", opt)
		}
		if seen[opt] {
			return nil, s.errf("lvs_sync_daemon: %s given twice", opt)
		}
		seen[opt] = true
		arg := s.args[i+1]
		var err error
		var v uint64
		switch opt {
		case "id":
			v, err = parseUint(arg, 0, 255)
			sd.SyncID = uint8(v)
		case "maxlen":
			v, err = parseUint(arg, 1, 65535-20-8)
			sd.MaxLen = int(v)
		case "port":
			v, err = parseUint(arg, 1, 65535)
			sd.Port = uint16(v)
		case "ttl":
			v, err = parseUint(arg, 1, 255)
			sd.TTL = uint8(v)
		case "group":
			a, perr := netip.ParseAddr(arg)
			if perr != nil || !a.IsMulticast() || a.Zone() != "" {
				return nil, s.errf("lvs_sync_daemon: group %q is not a multicast address", arg)
			}
			sd.Group = a
		default:
			return nil, s.errf("lvs_sync_daemon: unknown option %q (id, maxlen, port, ttl or group)", opt)
		}
		if err != nil {
			return nil, s.errf("lvs_sync_daemon %s: %v", opt, err)
		}
	}
	return sd, nil
}
