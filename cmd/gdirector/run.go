package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/daemon"
	"github.com/gdirector/gdirector/httpapi"
	"github.com/gdirector/gdirector/link/afpacket"
	"github.com/gdirector/gdirector/metrics"
	"github.com/gdirector/gdirector/status"
)

func cmdRun(args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var ifaces multiFlag
	fs.Var(&ifaces, "iface", "interface to serve (repeat for each; at least one)")
	tunDev := fs.String("tun", "", "feed the director from this TUN device (created if missing) instead of --iface; the host routes VIP traffic and NAT replies into it")
	ctlFlag := fs.String("ctl", "", "control socket path (default $GDIRECTOR_CTL or "+defaultCtl+")")
	maxConns := fs.Int("max-conns", 0, "connection table capacity (default 1048576)")
	workers := fs.Int("workers", 0, fmt.Sprintf("data-plane workers: each interface is read through this many sockets of one PACKET_FANOUT group, one per worker (default: one per CPU, here %d; at most %d; a --tun director has one)", runtime.NumCPU(), daemon.MaxWorkers))
	rxFlag := fs.String("rx", "auto", "how the packet sockets receive: ring (a TPACKET_V3 memory-mapped ring: fastest; a lone packet may wait up to 1ms), recvmmsg (batched copies, no added wait), or auto (ring if the kernel allows it)")
	noOffload := fs.Bool("no-offload", false, "do not read and write GRO/GSO/TSO super-frames whole (PACKET_VNET_HDR); frames longer than the MTU are then dropped, so turn those offloads off on the served interfaces (ethtool -K IFACE gro off gso off tso off)")
	quiet := fs.Bool("quiet", false, "log nothing but errors")
	expireNodest := fs.Bool("expire-nodest-conn", false, "as IPVS's expire_nodest_conn sysctl: a client packet of a connection whose real server was removed (ipvsadm -d) expires the connection and is scheduled afresh; off, such packets are dropped until the connection times out")
	metricsAddr := fs.String("metrics", "", "serve Prometheus metrics at http://ADDR/metrics, ADDR being HOST:PORT (e.g. 127.0.0.1:9102 or [::1]:9102; :9102 for every address); off by default")
	statusAddr := fs.String("status", "", "serve a live status page (services, real servers, health, connections, rates, forwarding diagram) at http://ADDR/, ADDR being HOST:PORT; off by default; keep it on a loopback address such as 127.0.0.1:9180")
	configFile := fs.String("config", "", "load this configuration file at start (ipvsadm rules as ipvsadm -S writes them, keepalived.conf, ldirectord.cf or native YAML; see docs/config.md), and again on SIGHUP or `gdirector reload`")
	formatFlag := fs.String("format", "", "the --config file's format: ipvsadm, keepalived, ldirectord or native (default: told from its contents)")
	autoreload := fs.Bool("autoreload", false, "reload the --config file whenever its contents change")
	var api httpapi.Config
	fs.StringVar(&api.Addr, "api", "", "serve the remote management API at https://ADDR/v1/, ADDR being HOST:PORT; off by default, and needs --api-cert, --api-key and --api-token-file")
	fs.StringVar(&api.CertFile, "api-cert", "", "PEM certificate (chain) of the remote API")
	fs.StringVar(&api.KeyFile, "api-key", "", "PEM private key of the remote API")
	fs.StringVar(&api.TokenFile, "api-token-file", "", "file holding the remote API's bearer token (mode 0600 or stricter; e.g. openssl rand -hex 32)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if (len(ifaces) == 0) == (*tunDev == "") || fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: gdirector run --iface NAME [--iface NAME...] | --tun NAME  [--ctl PATH] [--metrics HOST:PORT] [--status HOST:PORT] [--config FILE [--format F] [--autoreload]] [--api HOST:PORT --api-cert FILE --api-key FILE --api-token-file FILE]")
		return 2
	}
	if *metricsAddr != "" {
		if _, err := metrics.ParseListenAddr(*metricsAddr); err != nil {
			fmt.Fprintf(os.Stderr, "gdirector run: --metrics: %v\n", err)
			return 2
		}
	}
	if *statusAddr != "" {
		if _, _, err := status.ParseListenAddr(*statusAddr); err != nil {
			fmt.Fprintf(os.Stderr, "gdirector run: --status: %v\n", err)
			return 2
		}
	}
	if api.Enabled() {
		if err := api.Check(); err != nil {
			fmt.Fprintf(os.Stderr, "gdirector run: %v\n", err)
			return 2
		}
	}
	if *workers < 0 || *workers > daemon.MaxWorkers {
		fmt.Fprintf(os.Stderr, "gdirector run: --workers %d: want 1..%d (0: one per CPU)\n", *workers, daemon.MaxWorkers)
		return 2
	}
	rx, err := afpacket.ParseRXMode(*rxFlag)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gdirector run: --rx: %v\n", err)
		return 2
	}
	format, err := config.ParseFormat(*formatFlag)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gdirector run: --format: %v\n", err)
		return 2
	}
	if *configFile == "" && (*formatFlag != "" || *autoreload) {
		fmt.Fprintln(os.Stderr, "gdirector run: --format and --autoreload need --config FILE")
		return 2
	}
	logger := log.New(os.Stderr, "", log.LstdFlags)
	logf := logger.Printf
	if *quiet {
		logf = func(string, ...any) {}
	}
	path := ctlPath(*ctlFlag)
	if *configFile != "" {
		// Reloads read the same file whatever the working directory.
		abs, err := filepath.Abs(*configFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gdirector run: --config: %v\n", err)
			return 2
		}
		*configFile = abs
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// SIGHUP reloads --config (without it, the daemon logs that there is
	// nothing to reload); it never ends the daemon.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				default: // a reload is pending: it will read the file anyway
				}
			}
		}
	}()
	err = daemon.Run(ctx, daemon.Options{
		Ifaces: ifaces, Tun: *tunDev, CtlPath: path, MaxConns: *maxConns, Logf: logf,
		Metrics: *metricsAddr, Status: *statusAddr, Config: *configFile, Format: format, Autoreload: *autoreload, Reload: reload, API: api,
		ExpireNodestConn: *expireNodest, Workers: *workers, RX: rx, NoOffload: *noOffload,
		Ready: func() {
			serving := fmt.Sprint([]string(ifaces))
			if *tunDev != "" {
				serving = "TUN device " + *tunDev
			}
			logf("gdirector %s: serving %s, control socket %s", Version, serving, path)
		},
	})
	if err != nil {
		logger.Printf("gdirector: %v", err)
		return 1
	}
	logf("gdirector: stopped")
	return 0
}
