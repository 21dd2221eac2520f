// Package config is the director's configuration as the daemon applies it,
// whatever file it was written in: virtual services with their real
// servers, the health checks that decide which real servers get traffic,
// the reactions to failures (quiescing, sorry server, quorum), firewall
// mark rules and protocol timeouts.
//
// Each file format has a parser of its own that produces a Config:
// ipvsadm rules (ipvsadm -S output), keepalived.conf (package
// config/keepalived), ldirectord.cf (config/ldirectord) and gdirector's
// native YAML format (config/native). Load reads a file and picks the
// parser (see Detect). Parsers keep the line of every item, so that an
// error found later (a refused service, a bad check) still names the line
// it came from.
//
// A Config is plain data: nothing here talks to the network or to the
// Manager. Package healthcheck runs the checks and applies a Config,
// with the health of its real servers, to a ctl.Manager.
package config

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

// Format is a configuration file format.
type Format int

// Formats.
const (
	FormatUnknown    Format = iota
	FormatIPVSRules         // ipvsadm -S output, as ipvsadm -R reads it
	FormatKeepalived        // keepalived.conf
	FormatLdirectord        // ldirectord.cf
	FormatNative            // gdirector's YAML format
)

// String names the format as the --format flag spells it.
func (f Format) String() string {
	switch f {
	case FormatIPVSRules:
		return "ipvsadm"
	case FormatKeepalived:
		return "keepalived"
	case FormatLdirectord:
		return "ldirectord"
	case FormatNative:
		return "native"
	}
	return "unknown"
}

// Config is a whole configuration.
type Config struct {
	// Path is the file it was read from ("" when built in memory).
	Path   string
	Format Format
	// Timeouts are the TCP, TCP FIN_WAIT and UDP timeouts (ipvsadm
	// --set); nil leaves the running values alone.
	Timeouts *Timeouts
	// Marks are firewall-mark rules (gdirector mark add), applied in
	// order; the last matching rule wins.
	Marks    []vs.MarkRule
	Services []Service

	// AutoReload asks the daemon to read the file again whenever it
	// changes on disk (ldirectord autoreload=yes).
	AutoReload bool
	// VRRP are the VRRP instances (keepalived vrrp_instance), in file
	// order; see package vrrp.
	VRRP []VRRPInstance
	// VRRPSyncGroups are the VRRP sync groups (keepalived
	// vrrp_sync_group), in file order.
	VRRPSyncGroups []VRRPSyncGroup
	// VRRPScripts are the scripts VRRP instances track (keepalived
	// vrrp_script), in file order.
	VRRPScripts []VRRPScript
	// SyncDaemon is connection synchronisation (keepalived's
	// lvs_sync_daemon); nil: none.
	SyncDaemon *SyncDaemon
	// Warnings are things the parser accepted but does not carry out as
	// the original program would (an ignored directive, an approximated
	// check), each naming its line; the daemon logs them.
	Warnings []string
}

// Timeouts are the connection timeouts ipvsadm --set takes; 0 keeps the
// current value, as with ipvsadm.
type Timeouts struct {
	TCP, TCPFin, UDP time.Duration
}

// Service is a virtual service with its real servers.
type Service struct {
	// Line is where the service is defined in its file (0 if not read
	// from a file); errors about the service name it.
	Line int
	// File is the file Line counts in when it is not Config.Path (the
	// item was read from an included file); "" = Config.Path. Dest and
	// Check have the same pair.
	File string
	// Name is a label for logs and notifications: keepalived's
	// virtual_server address or group name, ldirectord's virtual= value.
	Name string
	// Service holds the ipvsadm settings: protocol, VIP:port or firewall
	// mark, scheduler, persistence flags, timeout and netmask.
	ctl.ServiceConfig
	// LAddrs are FullNAT local addresses (ipvsadm --add-laddr).
	LAddrs []LocalAddr
	Dests  []Dest

	// Sorry is the server that takes the service's traffic while no real
	// server is up (keepalived sorry_server, ldirectord fallback); nil
	// for none. Its Checks are ignored.
	Sorry *Dest
	// SorryInhibit keeps the sorry server in the table with weight 0
	// instead of removing it when real servers are back (keepalived
	// sorry_server_inhibit).
	SorryInhibit bool

	// Quorum is the total weight of healthy real servers the service
	// needs to count as up (keepalived quorum, default 1); Hysteresis is
	// the margin around it (the service goes down below Quorum -
	// Hysteresis and up again at Quorum + Hysteresis). QuorumUp and
	// QuorumDown are commands run on those transitions.
	Quorum     int
	Hysteresis int
	QuorumUp   string
	QuorumDown string

	// Alpha starts every real server as down until its checks pass
	// (keepalived alpha); without it real servers start up. Omega runs
	// the notify-down commands and removes the real servers when the
	// service is removed (keepalived omega).
	Alpha bool
	Omega bool
}

// LocalAddr is a FullNAT local address of a service and the interface it
// is bound to ("" = any), as ipvsadm --add-laddr -z ADDR -F IFACE.
type LocalAddr struct {
	Addr  netip.Addr
	Iface string
}

// Dest is a real server of a service.
type Dest struct {
	Line int
	File string // "" = Config.Path (see Service.File)
	// Dest holds the ipvsadm settings: address, port, forwarding method,
	// weight and thresholds.
	ctl.DestConfig
	// Inhibit sets the weight to 0 when the real server fails instead of
	// removing it (keepalived inhibit_on_failure, ldirectord
	// quiescent=yes), so its connections go on.
	Inhibit bool
	// NotifyUp and NotifyDown are commands run when the real server's
	// health changes (keepalived notify_up/notify_down).
	NotifyUp, NotifyDown string
	// Alpha starts this real server as down until its checks pass, like
	// Service.Alpha for a single real server (keepalived alpha on a
	// real_server or on one of its checkers). The health engine starts a
	// real server down if Alpha or its Service's Alpha is set.
	Alpha bool
	// Checks must all pass for the real server to be up (keepalived runs
	// every checker of a real_server; ldirectord has one). None: the real
	// server is always up.
	Checks []Check
}

// CheckKind is the kind of a health check.
type CheckKind int

// Check kinds.
const (
	CheckTCP   CheckKind = iota + 1 // TCP connect (TCP_CHECK, checktype=connect)
	CheckHTTP                       // HTTP GET (HTTP_GET, service=http)
	CheckHTTPS                      // HTTPS GET (SSL_GET, service=https)
	CheckUDP                        // UDP probe (UDP_CHECK)
	CheckPing                       // ICMP echo (PING_CHECK, checktype=ping)
	CheckDNS                        // DNS query (DNS_CHECK, service=dns)
	CheckSMTP                       // SMTP greeting and HELO (SMTP_CHECK, service=smtp)
	CheckMisc                       // external command (MISC_CHECK, checktype=external)
	CheckOn                         // always up (ldirectord checktype=on)
	CheckOff                        // always down (ldirectord checktype=off)
)

// String names the kind as keepalived spells its checker.
func (k CheckKind) String() string {
	switch k {
	case CheckTCP:
		return "TCP_CHECK"
	case CheckHTTP:
		return "HTTP_GET"
	case CheckHTTPS:
		return "SSL_GET"
	case CheckUDP:
		return "UDP_CHECK"
	case CheckPing:
		return "PING_CHECK"
	case CheckDNS:
		return "DNS_CHECK"
	case CheckSMTP:
		return "SMTP_CHECK"
	case CheckMisc:
		return "MISC_CHECK"
	case CheckOn:
		return "on"
	case CheckOff:
		return "off"
	}
	return fmt.Sprintf("CheckKind(%d)", int(k))
}

// Check is one health check of a real server.
type Check struct {
	Line int
	File string // "" = Config.Path (see Service.File)
	Kind CheckKind

	// Target overrides the address and port checked (keepalived
	// connect_ip/connect_port, ldirectord checkport); an invalid address
	// or a zero port takes the real server's.
	Target netip.AddrPort
	// BindTo is the source address of the check (keepalived bindto);
	// invalid = the system's choice.
	BindTo netip.Addr

	// Interval is the time between checks (keepalived delay_loop,
	// ldirectord checkinterval).
	Interval time.Duration
	// Timeout bounds one attempt (keepalived connect_timeout,
	// ldirectord checktimeout / negotiatetimeout / connecttimeout).
	Timeout time.Duration
	// Retry is how many further attempts a failed check makes before the
	// real server is declared down (keepalived retry / nb_get_retry;
	// ldirectord failurecount counts checks, so its parser stores
	// failurecount - 1), and DelayBeforeRetry the pause between them.
	Retry            int
	DelayBeforeRetry time.Duration
	// Rise is how many consecutive successes bring a down real server
	// back up (1 unless a format says otherwise).
	Rise int
	// Warmup delays the first check by a random time up to this long
	// (keepalived warmup), spreading the checks.
	Warmup time.Duration

	// HTTP and HTTPS.
	URLs        []URLCheck
	VirtualHost string // Host header; "" = the target address
	// TLS options of HTTPS: the server name sent (SNI; "" = none) and
	// whether the certificate is verified (keepalived does not).
	SNI       string
	VerifyTLS bool

	// UDP: the payload sent and, if RequireReply, whether an answer
	// must come (otherwise only an ICMP port unreachable fails it).
	Payload      []byte
	RequireReply bool
	// With RequireReply, keepalived's UDP_CHECK reply checks: the answer
	// must be MinReplyLen..MaxReplyLen bytes long (MaxReplyLen 0 = no
	// limit), and its first min(len(answer), len(Reply)) bytes must equal
	// Reply's in the bits that ReplyMask sets (nil ReplyMask = all bits;
	// nil Reply = any content).
	Reply, ReplyMask         []byte
	MinReplyLen, MaxReplyLen int

	// DNS: the query (type and name) and, optionally, a name the answer
	// must contain.
	DNSType, DNSName string
	// DNSAnswer is a regular expression (Go syntax) that an address of
	// an A or AAAA record, or the name of a PTR record, in the answer
	// must match (ldirectord receive= of service=dns); "" = any answer.
	DNSAnswer string

	// SMTP: the name sent with HELO.
	HELO string

	// Misc: the command line run, and with Dynamic its exit status sets
	// the weight (keepalived misc_dynamic: 0 up, 1 down, 2..255 weight
	// status-2).
	Command string
	Dynamic bool
	// User runs the command as that user; "" = the daemon's user.
	User string
}

// URLCheck is one URL of an HTTP or HTTPS check; all of a check's URLs
// must pass.
type URLCheck struct {
	Path string
	// Status is the accepted status codes; empty = any 2xx (keepalived's
	// default is 200..299 in recent versions).
	Status []int
	// Digest is the hex MD5 of the body (keepalived digest); "" = none.
	Digest string
	// Substring must occur in the body (ldirectord receive= as a plain
	// string, or its regular expression in Regexp); "" = none.
	Substring string
	Regexp    string
	// VirtualHost is the Host header of this URL's request, overriding
	// the check's (keepalived's url virtualhost); "" = the check's.
	VirtualHost string
}

// Key returns the service's key in a vs.Table.
func (s *Service) Key() vs.ServiceKey { return s.ServiceID.Key() }

// Pos is where an item of a configuration is defined: a line of a file.
type Pos struct {
	File string // "" = the configuration's Path
	Line int    // 0 = unknown
}

// Pos returns where the service is defined.
func (s *Service) Pos() Pos { return Pos{File: s.File, Line: s.Line} }

// Pos returns where the real server is defined.
func (d *Dest) Pos() Pos { return Pos{File: d.File, Line: d.Line} }

// Pos returns where the check is defined.
func (c *Check) Pos() Pos { return Pos{File: c.File, Line: c.Line} }

// Locate returns the first of places that has a line, with its file
// resolved against path (the Config's Path), or just path when none
// has a line: Locate(c.Path, check.Pos(), dest.Pos(), service.Pos())
// names the innermost item that knows where it was written.
func Locate(path string, places ...Pos) Pos {
	for _, p := range places {
		if p.Line > 0 {
			if p.File == "" {
				p.File = path
			}
			return p
		}
	}
	return Pos{File: path}
}

// Errorf returns Errorf(p.File, p.Line, format, args...).
func (p Pos) Errorf(format string, args ...any) error {
	return Errorf(p.File, p.Line, format, args...)
}

// Errorf returns an error that names the file and line, as every
// configuration error should: "PATH:LINE: message" ("line LINE: …"
// without a path).
func Errorf(path string, line int, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	switch {
	case path != "" && line > 0:
		return fmt.Errorf("%s:%d: %s", path, line, msg)
	case line > 0:
		return fmt.Errorf("line %d: %s", line, msg)
	case path != "":
		return fmt.Errorf("%s: %s", path, msg)
	}
	return fmt.Errorf("%s", msg)
}
