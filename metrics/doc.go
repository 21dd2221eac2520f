// Package metrics exposes the director to Prometheus: a Collector that, at
// every scrape, reads the current vs.Table snapshot and the counters the
// data plane keeps, and an HTTP endpoint (/metrics) the daemon serves at an
// opt-in listen address (gdirector run --metrics ADDR).
//
// # Names
//
// The IPVS families follow the node exporter's IPVS collector, under the
// gdirector_ namespace instead of node_, so that dashboards and alerts
// written for a kernel director carry over by renaming the prefix:
//
//	gdirector_ipvs_connections_total          counter  all services
//	gdirector_ipvs_incoming_packets_total     counter
//	gdirector_ipvs_outgoing_packets_total     counter
//	gdirector_ipvs_incoming_bytes_total       counter
//	gdirector_ipvs_outgoing_bytes_total       counter
//	gdirector_ipvs_backend_connections_active    gauge  per real server
//	gdirector_ipvs_backend_connections_inactive  gauge
//	gdirector_ipvs_backend_weight                gauge
//
// The backend labels are the node exporter's: local_address and
// local_port (the VIP and port, "" and "0" for a firewall-mark service),
// remote_address and remote_port (the real server), proto (TCP, UDP, SCTP,
// or FWM for a firewall-mark service) and local_mark (the mark as
// /proc/net/ip_vs prints it, eight upper-case hex digits, "" for other
// services). Real servers whose labels coincide (an IPv4 and an IPv6
// firewall-mark service with the same mark and the same tunnel real
// server) are summed, as the node exporter sums them; so are services.
//
// gdirector adds what ipvsadm --stats shows per service and per real
// server, which the node exporter does not break down:
//
//	gdirector_ipvs_service_{connections,incoming_packets,outgoing_packets,incoming_bytes,outgoing_bytes}_total
//	    counters; labels local_address, local_port, proto, local_mark
//	gdirector_ipvs_backend_{connections,incoming_packets,outgoing_packets,incoming_bytes,outgoing_bytes}_total
//	    counters; the backend labels
//	gdirector_ipvs_backend_connections_persistent  gauge: persistence templates (ipvsadm --persistent-conn)
//	gdirector_ipvs_backend_overloaded              gauge: 1 while the upper connection threshold holds it
//	gdirector_backend_up                           gauge: health state, see below
//
// and the director's own state:
//
//	gdirector_drops_total{reason}                   counter: packets dropped, by reason (forward.Reason names)
//	gdirector_datapath_frames_received_total        counter
//	gdirector_datapath_frames_sent_total            counter
//	gdirector_datapath_forwarded_packets_total{direction="in"|"out"}
//	gdirector_datapath_new_connections_total        counter
//	gdirector_datapath_ignored_frames_total         counter: frames that were not the director's business
//	gdirector_datapath_icmp_errors_sent_total       counter
//	gdirector_datapath_parked_frames_total          counter: frames that waited for a neighbour
//	gdirector_conntrack_entries                     gauge: connections and templates in the table
//	gdirector_conntrack_templates                   gauge: persistence templates among them
//	gdirector_conntrack_capacity                    gauge
//	gdirector_fullnat_laddr_connections             gauge: connections bound to a FullNAT local address
//	gdirector_fullnat_laddr_port_conflicts_total    counter: local ports found in use while allocating
//
// The FullNAT families carry the service labels plus laddr (the local
// address) and iface (the interface it was bound to, "" for any), the
// figures of ipvsadm -G. A registry from NewRegistry adds the Go runtime
// and process collectors (go_*, process_*).
//
// # Semantics
//
// Every figure is read at scrape time from atomics the data plane already
// maintains (vs.Stats, the Dest counters, vs.LocalAddr, the per-worker
// counters): the packet path does no extra work for metrics. Service and
// real-server counters are those ipvsadm -L --stats --exact prints, so
// they go back to zero on ipvsadm -Z, like the kernel's (Prometheus reads
// a decrease as a counter reset). The totals are the sums over the
// services of the current table; unlike the kernel's global counters they
// lose a service's traffic when the service is deleted. Real servers
// removed from their service but kept alive by their connections (the
// dest trash) are not listed, as in /proc/net/ip_vs.
//
// gdirector_conntrack_templates counts the templates bound to the real
// servers of the current table (the sum of their persistent counts); a
// template whose real server was removed is in gdirector_conntrack_entries
// only.
//
// # Health
//
// gdirector_backend_up is the place a health checker reports to: Source
// takes a HealthFunc, and where it knows a real server its verdict is the
// value. Until a checker watches a real server (there are none yet), the
// value says whether the scheduler may give the real server new
// connections: it is still part of its service, its weight is above zero
// and it is not overloaded; an operator's or a checker's weight 0 (the
// keepalived way of taking a server out) therefore reads as down.
package metrics
