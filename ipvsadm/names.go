package ipvsadm

import (
	"net/netip"
	"strings"

	"github.com/gdirector/gdirector/vs"
)

// This file holds the name look-ups ipvsadm makes through the C library:
// getservbyname and getservbyport (the services database, /etc/services),
// gethostbyname and gethostbyaddr. ipvsadm reads port and host names on
// input always, and prints them instead of numbers unless -n is given
// (-L, -S, -c and a listing without arguments).

// Names is what a command line is resolved with. The zero value has the
// built-in services database and resolves no host name.
type Names struct {
	// Services is the services database; nil means the built-in one
	// (DefaultServices).
	Services *Services
	// LookupHost is gethostbyname: the IPv4 address of a host name, for
	// addresses given by name ("-t www.example.com:80", "-r rs1",
	// "-M mask-name"). nil: no host name resolves, and such arguments
	// are refused as ipvsadm refuses names its resolver does not know.
	LookupHost func(name string) (netip.Addr, bool)
	// HostName is gethostbyaddr: the name printed for an address without
	// -n, "" for none (the address is then printed as a number). nil:
	// no address has a name.
	HostName func(a netip.Addr) string
}

func (n *Names) services() *Services {
	if n == nil || n.Services == nil {
		return DefaultServices
	}
	return n.Services
}

// port is service_to_port: getservbyname for TCP, UDP and SCTP, -1 for
// any other protocol or an unknown name.
func (n *Names) port(name string, proto vs.Proto) int64 {
	p := protoDBName(proto)
	if p == "" {
		return -1
	}
	if port, ok := n.services().Port(name, p); ok {
		return int64(port)
	}
	return -1
}

// hostAddr is host_to_addr: gethostbyname, IPv4 only.
func (n *Names) hostAddr(name string) (netip.Addr, bool) {
	if n == nil || n.LookupHost == nil {
		return netip.Addr{}, false
	}
	a, ok := n.LookupHost(name)
	if !ok || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// anyname is addrport_to_anyname: "addr:port", IPv6 in brackets; with
// names (no -n) the address's host name and the port's service name
// replace the numbers where they exist. ipvsadm formats into a 60-byte
// buffer, so the result is cut at 59 bytes (only names can be that long).
func (n *Names) anyname(a netip.Addr, port uint16, proto vs.Proto, numeric bool) string {
	if numeric {
		return addrPort(a, port)
	}
	host := ""
	if n != nil && n.HostName != nil {
		host = n.HostName(a)
	}
	if host == "" {
		host = ntop(a)
	}
	ps := ""
	if p := protoDBName(proto); p != "" {
		ps, _ = n.services().Name(port, p)
	}
	if ps == "" {
		ps = uitoa(uint64(port))
	}
	s := host + ":" + ps
	if !a.Is4() {
		s = "[" + host + "]:" + ps
	}
	return truncate(s, 59)
}

func protoDBName(p vs.Proto) string {
	switch p {
	case vs.TCP:
		return "tcp"
	case vs.UDP:
		return "udp"
	case vs.SCTP:
		return "sctp"
	}
	return ""
}

func uitoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// Services is a services database: names of ports per protocol, in the
// order of the file they were read from. Lookups return the first match,
// as the C library's do.
type Services struct {
	entries []serviceEntry
}

type serviceEntry struct {
	name    string
	aliases []string
	port    uint16
	proto   string
}

// ParseServices reads a services database in the format of /etc/services
// (services(5)): per line an official name, "port/protocol" and optional
// aliases, separated by blanks; '#' starts a comment. As the C library
// does, it skips lines without a name and a "number/protocol" field, and
// keeps the port modulo 65536.
func ParseServices(text string) *Services {
	s := &Services{}
	for line := range strings.SplitSeq(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.FieldsFunc(line, func(r rune) bool { return r < 0x80 && isSpace(byte(r)) })
		if len(f) < 2 {
			continue
		}
		num, proto, ok := strings.Cut(f[1], "/")
		if !ok || num == "" || !isAllDigits(num) {
			continue
		}
		var v uint32
		for i := 0; i < len(num); i++ {
			v = v*10 + uint32(num[i]-'0')
		}
		s.entries = append(s.entries, serviceEntry{
			name: f[0], aliases: f[2:], port: uint16(v), proto: proto,
		})
	}
	return s
}

// Port is getservbyname: the port of the service called name (its
// official name or an alias) for protocol proto ("tcp", "udp", "sctp").
func (s *Services) Port(name, proto string) (uint16, bool) {
	for _, e := range s.entries {
		if e.proto != proto {
			continue
		}
		if e.name == name {
			return e.port, true
		}
		for _, a := range e.aliases {
			if a == name {
				return e.port, true
			}
		}
	}
	return 0, false
}

// Name is getservbyport: the official name of the first service on port
// for protocol proto.
func (s *Services) Name(port uint16, proto string) (string, bool) {
	for _, e := range s.entries {
		if e.port == port && e.proto == proto {
			return e.name, true
		}
	}
	return "", false
}

// DefaultServices is the built-in services database: well-known services
// under the names Debian's netbase gives them in /etc/services, for the
// protocols it lists them with. It stands in for /etc/services, which this
// package does not read (a caller can pass the real file through Names).
var DefaultServices = ParseServices(builtinServices)

const builtinServices = `
echo		7/tcp
echo		7/udp
discard		9/tcp		sink null
discard		9/udp		sink null
daytime		13/tcp
daytime		13/udp
ftp-data	20/tcp
ftp		21/tcp
ssh		22/tcp
telnet		23/tcp
smtp		25/tcp		mail
time		37/tcp		timserver
time		37/udp		timserver
whois		43/tcp		nicname
tacacs		49/tcp
tacacs		49/udp
domain		53/tcp
domain		53/udp
bootps		67/udp
bootpc		68/udp
tftp		69/udp
gopher		70/tcp
finger		79/tcp
http		80/tcp		www
kerberos	88/tcp		kerberos5 krb5 kerberos-sec
kerberos	88/udp		kerberos5 krb5 kerberos-sec
pop3		110/tcp		pop-3
sunrpc		111/tcp		portmapper
sunrpc		111/udp		portmapper
auth		113/tcp		authentication tap ident
nntp		119/tcp		readnews untp
ntp		123/udp
epmap		135/tcp		loc-srv
netbios-ns	137/udp
netbios-dgm	138/udp
netbios-ssn	139/tcp
imap2		143/tcp		imap
snmp		161/tcp
snmp		161/udp
snmp-trap	162/tcp		snmptrap
snmp-trap	162/udp		snmptrap
xdmcp		177/udp
bgp		179/tcp
ldap		389/tcp
ldap		389/udp
https		443/tcp
https		443/udp
microsoft-ds	445/tcp
kpasswd		464/tcp
kpasswd		464/udp
submissions	465/tcp		ssmtp smtps urd
isakmp		500/udp
syslog		514/udp
printer		515/tcp		spooler
afpovertcp	548/tcp
rtsp		554/tcp
rtsp		554/udp
submission	587/tcp
ipp		631/tcp
ldaps		636/tcp
ldaps		636/udp
kerberos-adm	749/tcp
kerberos4	750/udp		kerberos-iv kdc
kerberos4	750/tcp		kerberos-iv kdc
rsync		873/tcp
imaps		993/tcp
pop3s		995/tcp
socks		1080/tcp
openvpn		1194/tcp
openvpn		1194/udp
ms-sql-s	1433/tcp
radius		1812/tcp
radius		1812/udp
nfs		2049/tcp
nfs		2049/udp
cvspserver	2401/tcp
iscsi-target	3260/tcp
mysql		3306/tcp
ms-wbt-server	3389/tcp
nut		3493/tcp
nut		3493/udp
distcc		3632/tcp
svn		3690/tcp	subversion
munin		4949/tcp	lrrd
sip		5060/tcp
sip		5060/udp
sip-tls		5061/tcp
sip-tls		5061/udp
xmpp-client	5222/tcp	jabber-client
xmpp-server	5269/tcp	jabber-server
mdns		5353/udp
postgresql	5432/tcp	postgres
amqp		5672/tcp
amqp		5672/sctp
nrpe		5666/tcp
nsca		5667/tcp
x11		6000/tcp	x11-0
redis		6379/tcp
sane-port	6566/tcp	sane saned
ircd		6667/tcp
http-alt	8080/tcp	webcache
tproxy		8081/tcp
puppet		8140/tcp
bacula-dir	9101/tcp
bacula-fd	9102/tcp
bacula-sd	9103/tcp
git		9418/tcp
webmin		10000/tcp
zabbix-agent	10050/tcp
zabbix-trapper	10051/tcp
hkp		11371/tcp
`
