package e2e

import (
	"bytes"
	"crypto/rand"
	"io"
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

// packets reads every packet of a pcap file, with its capture time in
// Metadata().CaptureInfo.
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
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		p.Metadata().CaptureInfo = ci
		out = append(out, p)
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
// the client receives comes from the VIP, rs1 sees only the client's own
// address, and the director's own kernel sends no RST and no ICMP for any
// of it (verifyNAT).
func TestNATTCP(t *testing.T) {
	e := newEnv(t)
	f := family4(e)
	tr := workload{http: 6}
	e.services(t, f, "-m", tr)
	c := e.startNATCaptures(t, f)
	e.exchange(t, f, tr)

	// 1 MiB of random bytes to /echo and back.
	dir := t.TempDir()
	body := make([]byte, 1<<20)
	rand.Read(body)
	in, outFile := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	if err := os.WriteFile(in, body, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, e.ClientNS, 30*time.Second, "curl", "-sS", "-m", "20", "--data-binary", "@"+in,
		"-H", "Content-Type: application/octet-stream", "-o", outFile, "http://"+e.VIP.String()+"/echo")
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

	if fromVIP := e.verifyNAT(t, f, c); fromVIP < 7*3 {
		t.Errorf("client capture saw only %d packets from the VIP", fromVIP)
	}
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
	f := family4(e)
	e.services(t, f, "-m", workload{udp: 1})
	clientCap := startCapture(t, e.ClientNS, e.ClientIf, f.clientFilter())
	var got []string
	for i := 0; i < 4; i++ {
		// socat picks a fresh source port per run: a new connection each.
		out := run(t, e.ClientNS, 10*time.Second, "sh", "-c", "printf 'query-"+strconv.Itoa(i)+"' | socat -t 0.5 - UDP:"+e.VIP.String()+":53")
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
	if answers := e.fromVIP(t, f, packets(t, clientCap.stop(t))); answers != 4 {
		t.Errorf("client capture has %d answers, want 4", answers)
	}
	e.stopDirector(t)
}
