package e2e

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// packets reads every packet of a pcap file.
func packets(t *testing.T, file string) []gopacket.Packet {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var out []gopacket.Packet
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out = append(out, gopacket.NewPacket(data, r.LinkType(), gopacket.Default))
	}
}

func ipv4(p gopacket.Packet) *layers.IPv4 {
	if l := p.Layer(layers.LayerTypeIPv4); l != nil {
		return l.(*layers.IPv4)
	}
	return nil
}

// TestNATTCP: real curl requests through the VIP alternate between two real
// servers, a 1 MiB body survives the round trip byte for byte, every reply
// the client receives comes from the VIP, and the director's own kernel
// sends no RST and no ICMP for any of it.
func TestNATTCP(t *testing.T) {
	e := newEnv(t)
	vip := e.VIP.String()
	e.mustIpvsadm(t, "-A", "-t", vip+":80", "-s", "rr")
	for _, r := range e.Reals {
		e.mustIpvsadm(t, "-a", "-t", vip+":80", "-r", r.RIP.String()+":80", "-m")
	}

	clientCap := startCapture(t, e.ClientNS, e.ClientIf, "ip")
	kernelCap := startCapture(t, e.DirectorNS, "any", "icmp or (tcp[tcpflags] & tcp-rst != 0)")

	var got []string
	for i := 0; i < 6; i++ {
		out := run(t, e.ClientNS, 10*time.Second, "curl", "-sS", "-m", "5", "http://"+vip+"/")
		got = append(got, strings.TrimSpace(out))
	}
	// As in the kernel, a new dest goes to the head of the service's list,
	// so rr starts with the real server added last.
	want := []string{"served by rs2", "served by rs1", "served by rs2", "served by rs1", "served by rs2", "served by rs1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("answers %q, want %q", got, want)
	}

	// 1 MiB of random bytes to /echo and back.
	dir := t.TempDir()
	body := make([]byte, 1<<20)
	rand.Read(body)
	in, outFile := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	if err := os.WriteFile(in, body, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, e.ClientNS, 30*time.Second, "curl", "-sS", "-m", "20", "--data-binary", "@"+in,
		"-H", "Content-Type: application/octet-stream", "-o", outFile, "http://"+vip+"/echo")
	echoed, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(echoed, body) {
		t.Fatalf("echo: sent %d bytes, got %d back, equal=%v", len(body), len(echoed), bytes.Equal(echoed, body))
	}

	// The table shows the seven closed connections as inactive (TIME_WAIT).
	list := e.mustIpvsadm(t, "-L", "-n")
	t.Logf("ipvsadm -L -n:\n%s", list)
	active, inactive := destCounts(t, list)
	if active != 0 || inactive != 7 {
		t.Errorf("ActiveConn %d InActConn %d, want 0 and 7", active, inactive)
	}

	cpkts := packets(t, clientCap.stop(t))
	kpkts := packets(t, kernelCap.stop(t))
	var fromVIP int
	for _, p := range cpkts {
		ip := ipv4(p)
		if ip == nil || ip.SrcIP.Equal(e.CIP.AsSlice()) {
			continue
		}
		if src, _ := netip.AddrFromSlice(ip.SrcIP); src != e.VIP {
			t.Errorf("client received a packet from %v, not the VIP: %v", ip.SrcIP, p)
		}
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tcp.RST {
			t.Errorf("client received a RST: %v", p)
		}
		fromVIP++
	}
	if fromVIP < 7*3 {
		t.Errorf("client capture saw only %d packets from the VIP", fromVIP)
	}
	if len(kpkts) != 0 {
		for _, p := range kpkts {
			t.Errorf("director namespace emitted RST/ICMP: %v", p)
		}
	}
	t.Logf("client capture: %d packets from the VIP; director RST/ICMP: %d", fromVIP, len(kpkts))
	e.stopDirector(t)
}

var destLine = regexp.MustCompile(`^\s+->\s+\S+\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s*$`)

// destCounts sums ActiveConn and InActConn over the dest lines of -Ln.
func destCounts(t *testing.T, list string) (active, inactive int) {
	t.Helper()
	for _, l := range strings.Split(list, "\n") {
		m := destLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		a, _ := strconv.Atoi(m[2])
		i, _ := strconv.Atoi(m[3])
		active += a
		inactive += i
	}
	return active, inactive
}

// TestNATUDP: DNS-like request/response through VIP:53 alternates between
// the real servers and the answer comes back from the VIP.
func TestNATUDP(t *testing.T) {
	e := newEnv(t)
	vip := e.VIP.String()
	e.mustIpvsadm(t, "-A", "-u", vip+":53", "-s", "rr")
	for _, r := range e.Reals {
		e.mustIpvsadm(t, "-a", "-u", vip+":53", "-r", r.RIP.String()+":53", "-m")
	}
	clientCap := startCapture(t, e.ClientNS, e.ClientIf, "udp or icmp")
	var got []string
	for i := 0; i < 4; i++ {
		// socat picks a fresh source port per run: a new connection each.
		out := run(t, e.ClientNS, 10*time.Second, "sh", "-c", "printf 'query-"+strconv.Itoa(i)+"' | socat -t 0.5 - UDP:"+vip+":53")
		got = append(got, out)
	}
	want := []string{"rs2:query-0", "rs1:query-1", "rs2:query-2", "rs1:query-3"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("answers %q, want %q", got, want)
	}
	list := e.mustIpvsadm(t, "-L", "-n")
	t.Logf("ipvsadm -L -n:\n%s", list)
	if active, inactive := destCounts(t, list); active != 0 || inactive != 4 {
		t.Errorf("UDP ActiveConn %d InActConn %d, want 0 and 4 (IPVS counts UDP as inactive)", active, inactive)
	}
	var answers int
	for _, p := range packets(t, clientCap.stop(t)) {
		ip := ipv4(p)
		if ip == nil || ip.SrcIP.Equal(e.CIP.AsSlice()) {
			continue
		}
		if p.Layer(layers.LayerTypeICMPv4) != nil {
			t.Errorf("client received ICMP: %v", p)
		}
		if src, _ := netip.AddrFromSlice(ip.SrcIP); src != e.VIP {
			t.Errorf("answer from %v, not the VIP", ip.SrcIP)
		}
		answers++
	}
	if answers != 4 {
		t.Errorf("client capture has %d answers, want 4", answers)
	}
	e.stopDirector(t)
}
