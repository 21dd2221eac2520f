package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
)

// DemoOptions configure Demo.
type DemoOptions struct {
	Bin      string // the gdirector binary run in the namespaces
	Self     string // how the user invokes gdirector, for printed hints; "" = Bin
	Prefix   string // namespace prefix; "" = DefaultPrefix()
	Mode     string // "nat" (default), "dr", "tun" or "fullnat"
	Requests int    // HTTP requests to send; 0 = 6
	Keep     bool   // leave the lab running and print how to use it
	IPv6     bool   // dual-stack lab: the same services and requests on VIP6 too
	// Explain prints the topology diagram with the kernel settings that
	// matter and the address table (Topology.Explain) instead of the short
	// description, and narrates one request per address family from the
	// live trace (Topology.ExplainRequest) before the others.
	Explain bool
	// Observed, when not nil, receives each narrated request's
	// Observation (tests record them).
	Observed func(*Observation)
	Out      io.Writer
}

// Demo is `gdirector lab`: it builds the NAT topology, starts the real
// servers and the director, configures a round-robin TCP service and a UDP
// service with ipvsadm commands, sends real HTTP requests and UDP queries
// from the client to the VIP, reports which real server answered each, and
// prints the ipvsadm -Ln table. Unless Keep is set it removes everything
// it created, also on failure.
func Demo(ctx context.Context, opt DemoOptions) (err error) {
	out := opt.Out
	if out == nil {
		out = os.Stdout
	}
	if opt.Requests <= 0 {
		opt.Requests = 6
	}
	if opt.Prefix == "" {
		opt.Prefix = DefaultPrefix()
	}
	if opt.Self == "" {
		opt.Self = opt.Bin
	}
	dir := StateDir(opt.Prefix)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	build, method := Build, "-m"
	switch opt.Mode {
	case "", "nat":
		opt.Mode = "nat"
	case "dr":
		build, method = BuildDR, "-g"
	case "tun":
		build, method = BuildTUN, "-i"
	case "fullnat":
		build, method = BuildFullNAT, "-b"
	default:
		return fmt.Errorf("lab: unknown mode %q (want nat, dr, tun or fullnat)", opt.Mode)
	}
	fmt.Fprintf(out, "Building the LVS-%s lab %q in network namespaces...\n", strings.ToUpper(opt.Mode), opt.Prefix)
	t, err := build(Options{Prefix: opt.Prefix, IPv6: opt.IPv6})
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	defer func() {
		if opt.Keep && err == nil {
			return
		}
		if cerr := t.Close(); cerr != nil && err == nil {
			err = cerr
		}
		os.RemoveAll(dir)
		fmt.Fprintf(out, "\nRemoved the lab: namespaces %s.\n", strings.Join(append([]string{}, namespacesOf(t)...), ", "))
	}()
	if opt.Explain {
		fmt.Fprintf(out, "\n%s\n", t.Explain())
	} else {
		fmt.Fprintf(out, "\n%s\n", t.Describe())
	}

	if t.Mode == "tun" {
		if err := t.StartDecapsulators(opt.Bin, dir); err != nil {
			return err
		}
	}
	for i := range t.Reals {
		r := &t.Reals[i]
		logf := filepath.Join(dir, r.Name+".log")
		start := func(ns string, argv ...string) (*nsutil.Proc, error) { return t.StartLogged(ns, logf, argv...) }
		if err := t.startServers(r, start, opt.Bin); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := t.waitReals(wctx); err != nil {
		return err
	}
	sock := filepath.Join(dir, "gdirector.sock")
	if _, err := t.StartDirector(opt.Bin, sock, filepath.Join(dir, "director.log")); err != nil {
		return err
	}
	fmt.Fprintf(out, "Started: gdirector run --iface %s --ctl %s   [in %s]\n\n",
		strings.Join(t.DirIfaces, " --iface "), sock, t.DirectorNS)

	type family struct {
		vip   netip.Addr
		rip   func(Real) netip.Addr
		cip   netip.Addr
		host  string     // the VIP as in a URL or ADDR:PORT
		laddr netip.Addr // FullNAT local address
	}
	fams := []family{{t.VIP, func(r Real) netip.Addr { return r.RIP }, t.CIP, t.VIP.String(), FullNATLocalAddr}}
	if t.DualStack() {
		fams = append(fams, family{t.VIP6, func(r Real) netip.Addr { return r.RIP6 }, t.CIP6, "[" + t.VIP6.String() + "]", FullNATLocalAddr6})
	}
	for _, f := range fams {
		cmds := [][]string{
			{"-A", "-t", f.host + ":80", "-s", "rr"},
			{"-A", "-u", f.host + ":53", "-s", "rr"},
		}
		if opt.Mode == "fullnat" {
			// The real servers have no route to the client: they answer
			// the director's local address, which FullNAT puts in place
			// of the client's.
			cmds = append(cmds,
				[]string{"--add-laddr", "-z", f.laddr.String(), "-t", f.host + ":80"},
				[]string{"--add-laddr", "-z", f.laddr.String(), "-u", f.host + ":53"})
		}
		for _, r := range t.Reals {
			rip := netip.AddrPortFrom(f.rip(r), 0).String()
			rip = rip[:len(rip)-2] // ADDR or [ADDR6], ":0" cut
			cmds = append(cmds,
				[]string{"-a", "-t", f.host + ":80", "-r", rip + ":80", method},
				[]string{"-a", "-u", f.host + ":53", "-r", rip + ":53", method})
		}
		for _, c := range cmds {
			fmt.Fprintf(out, "  ipvsadm %s\n", strings.Join(c, " "))
			if _, err := Ipvsadm(sock, c...); err != nil {
				return err
			}
		}
	}

	if opt.Explain {
		for _, f := range fams {
			text, o, err := t.ExplainRequest(ctx, sock, f.vip)
			if err != nil {
				return fmt.Errorf("%w (director log: %s)", err, filepath.Join(dir, "director.log"))
			}
			if opt.Observed != nil {
				opt.Observed(o)
			}
			fmt.Fprintf(out, "\n%s", text)
		}
	}

	client := nsutil.HTTPClient(t.ClientNS)
	failed, total := 0, 0
	for _, f := range fams {
		fmt.Fprintf(out, "\nClient %s → http://%s/ (%d requests, a new TCP connection each):\n", f.cip, f.host, opt.Requests)
		for i := 1; i <= opt.Requests; i++ {
			total++
			name, err := FetchRealServer(ctx, client, "http://"+f.host+"/")
			if err != nil {
				failed++
				fmt.Fprintf(out, "  request %d: FAILED: %v\n", i, err)
				continue
			}
			fmt.Fprintf(out, "  request %d: answered by %s\n", i, name)
		}
		fmt.Fprintf(out, "\nClient %s → udp %s:53 (2 queries):\n", f.cip, f.host)
		for i := 1; i <= 2; i++ {
			total++
			ans, err := udpQuery(ctx, t.ClientNS, f.host+":53", fmt.Sprintf("query %d", i))
			if err != nil {
				failed++
				fmt.Fprintf(out, "  query %d: FAILED: %v\n", i, err)
				continue
			}
			fmt.Fprintf(out, "  query %d: answer %q\n", i, ans)
		}
	}

	list, err := Ipvsadm(sock, "-L", "-n")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nipvsadm -L -n\n%s", list)
	if failed > 0 {
		return fmt.Errorf("lab: %d of %d requests failed (director log: %s)", failed, total, filepath.Join(dir, "director.log"))
	}
	if opt.Keep {
		fmt.Fprintf(out, `
The lab stays up. Try:
  ip netns exec %[1]s curl -s http://%[2]s/
  GDIRECTOR_CTL=%[3]s %[4]s ipvsadm -L -n
  ip netns exec %[5]s bash          # a shell on the director
Logs are in %[6]s. Remove the lab with:
  %[4]s lab --clean %[7]s
`, t.ClientNS, t.VIP, sock, opt.Self, t.DirectorNS, dir, opt.Prefix)
	}
	return nil
}

func namespacesOf(t *Topology) []string {
	return []string{t.ClientNS, t.DirectorNS, t.SwitchNS, t.Reals[0].NS + "…"}
}

// Clean removes a kept lab: its processes, namespaces and state directory.
func Clean(prefix string) error {
	if !ValidPrefix(prefix) {
		return fmt.Errorf("lab: invalid prefix %q", prefix)
	}
	err := Cleanup(prefix)
	if rerr := os.RemoveAll(StateDir(prefix)); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// FetchRealServer fetches url with c and returns the name of the real
// server that answered (the X-Real-Server header of the lab's servers);
// a status other than 200 is an error.
func FetchRealServer(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return resp.Header.Get("X-Real-Server"), nil
}

func udpQuery(ctx context.Context, ns, addr, q string) (string, error) {
	conn, err := nsutil.DialContext(ctx, ns, "udp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte(q)); err != nil {
		return "", err
	}
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "", errors.New("no answer within 2s")
		}
		return "", err
	}
	return string(buf[:n]), nil
}
