package e2e

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gdirector/gdirector/lab"
)

// newWorkersEnv builds a NAT lab and starts the director with the extra
// flags (--workers, --rx).
func newWorkersEnv(t *testing.T, extra ...string) *env {
	t.Helper()
	return newEnvArgs(t, "nat", lab.Options{}, extra...)
}

var workerFrames = regexp.MustCompile(`frames read by each worker: \[([0-9 ]+)\]`)

// TestWorkers runs a NAT director with two workers: each interface is read
// through two packet sockets of one PACKET_FANOUT group, and each worker
// serves its socket of both interfaces, so a connection's client packets
// and its real server's replies (different tuples, hashed apart) are often
// handled by different workers, on the shared connection table. With the
// TPACKET_V3 ring and with recvmmsg: sequential requests keep rr's
// alternation, a burst of concurrent requests all succeed, every reply
// reaches the client from the VIP, the director's kernel answers nothing,
// and both workers read frames.
func TestWorkers(t *testing.T) {
	for _, rx := range []string{"ring", "recvmmsg"} {
		t.Run(rx, func(t *testing.T) {
			e := newWorkersEnv(t, "--workers", "2", "--rx", rx)
			log, _ := os.ReadFile(e.logFile)
			mode := map[string]string{"ring": "TPACKET_V3 ring", "recvmmsg": "recvmmsg"}[rx]
			if !strings.Contains(string(log), "2 worker(s)") || !strings.Contains(string(log), "receiving with "+mode) {
				t.Fatalf("director log does not announce 2 workers receiving with %s:\n%s", mode, log)
			}
			f := family4(e)
			tr := workload{http: 6, udp: 6}
			e.services(t, f, "-m", tr)
			c := e.startNATCaptures(t, f)
			e.exchange(t, f, tr)

			// Concurrent connections, from as many source ports.
			const burst = 16
			var wg sync.WaitGroup
			errs := make(chan string, burst)
			for i := 0; i < burst; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					out, err := nsutil.Run(e.ClientNS, "curl", "-sS", "-m", "5", "http://"+e.VIP.String()+"/")
					if err != nil || !strings.Contains(out, "served by") {
						errs <- out + " " + strconv.Quote(errString(err))
					}
				}()
			}
			wg.Wait()
			close(errs)
			for msg := range errs {
				t.Errorf("concurrent request failed: %s", msg)
			}
			list := e.mustIpvsadm(t, "-L", "-n")
			if active, inactive := destCounts(t, list); active+inactive != tr.http+tr.udp+burst {
				t.Errorf("%d active + %d inactive connections, want %d:\n%s", active, inactive, tr.http+tr.udp+burst, list)
			}
			if fromVIP := e.verifyNAT(t, f, c); fromVIP < (tr.http+burst)*3 {
				t.Errorf("client capture saw only %d packets from the VIP", fromVIP)
			}
			e.stopDirector(t)
			log, _ = os.ReadFile(e.logFile)
			m := workerFrames.FindStringSubmatch(string(log))
			if m == nil {
				t.Fatalf("no per-worker frame counts in the log:\n%s", log)
			}
			counts := strings.Fields(m[1])
			if len(counts) != 2 {
				t.Fatalf("per-worker counts %q, want two", counts)
			}
			for k, s := range counts {
				if n, _ := strconv.Atoi(s); n == 0 {
					t.Errorf("worker %d read no frame (%v): the fanout group did not spread the flows", k, counts)
				}
			}
			t.Logf("frames read by each worker: %v", counts)
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
