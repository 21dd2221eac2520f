package ipvsadm

import "fmt"

// helpText describes the commands and options, in the layout of ipvsadm's
// help (long option, short option, meaning), worded for this director.
func helpText(schedulers string) string {
	return fmt.Sprintf(`Commands:
Either long or short options are allowed.
  --add-service     -A        add a virtual service
  --edit-service    -E        change a virtual service
  --delete-service  -D        delete a virtual service
  --clear           -C        delete every virtual service
  --restore         -R        read commands from standard input
  --save            -S        print the table as commands
  --add-server      -a        add a real server to a virtual service
  --edit-server     -e        change a real server
  --delete-server   -d        remove a real server
  --list            -L|-l     show the table
  --zero            -Z        zero the counters of one or every service
  --add-laddr       -P        add a FullNAT local address to a virtual service
  --del-laddr       -Q        remove a FullNAT local address
  --get-laddr       -G        list the FullNAT local addresses
  --set tcp tcpfin udp        set the connection timeouts (seconds)
  --start-daemon              start the connection sync daemon
  --stop-daemon               stop the connection sync daemon
  --help            -h        show this text

virtual-service:
  --tcp-service|-t  service-address   host[:port] of a TCP service
  --udp-service|-u  service-address   host[:port] of a UDP service
  --sctp-service    service-address   host[:port] of an SCTP service
  --fwmark-service|-f fwmark          firewall mark, a number above zero

Options:
  --ipv6         -6                   the fwmark service is IPv6
  --scheduler    -s scheduler         %s,
                                      wlc when not given
  --pe            engine              persistence engine (none available)
  --persistent   -p [timeout]         persistent service (360 s when no timeout)
  --netmask      -M netmask           persistence granularity
  --real-server  -r server-address    host[:port] of a real server
  --gatewaying   -g                   direct routing (the default)
  --ipip         -i                   IP-in-IP tunneling
  --masquerading -m                   NAT
  --fullnat      -b                   FullNAT: source and destination NAT
                                      (-b is --fullnat after -a, -e and -d)
  --tun-type      type                ipip|gue|gre, ipip when not given
  --tun-port      port                tunnel destination port
  --tun-nocsum                        tunnel without checksum
  --tun-csum                          tunnel with checksum
  --tun-remcsum                       tunnel with remote checksum
  --weight       -w weight            share of the real server
  --u-threshold  -x uthreshold        upper connection threshold
  --l-threshold  -y lthreshold        lower connection threshold
  --connection   -c                   list the connections
  --timeout                           list the timeouts (tcp tcpfin udp)
  --daemon                            list the sync daemons
  --stats                             list traffic counters
  --rate                              list traffic rates
  --exact                             print exact numbers
  --thresholds                        list thresholds
  --persistent-conn                   list persistent connections
  --tun-info                          list tunnel settings
  --nosort                            do not sort services and servers
  --sort                              sort (the default, accepted for compatibility)
  --ops          -o                   one-packet scheduling (UDP)
  --numeric      -n                   numeric addresses and ports
  --sched-flags  -b flags             scheduler flags, comma-separated
                                      (-b is --sched-flags after -A and -E)
  --laddr        -z local-address     FullNAT local address
  --ifname       -F ifname            interface of the local address
Daemon Options:
  --syncid sid                        sync id (default 255)
  --sync-maxlen length                largest sync message (default 1472)
  --mcast-interface interface         interface for sync messages
  --mcast-group address               IPv4/IPv6 group (default 224.0.0.81)
  --mcast-port port                   UDP port (default 8848)
  --mcast-ttl ttl                     multicast TTL (default 1)
`, schedulers)
}
