package bench_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/bench"
	"github.com/gdirector/gdirector/bench/forward"
	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gdirector/gdirector/internal/roottest"
)

func TestDispatch(t *testing.T) {
	var out, errb bytes.Buffer
	if code := bench.Dispatch(context.Background(), nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "forward") {
		t.Errorf("no subcommand: exit %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	if code := bench.Dispatch(context.Background(), []string{"nope"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `unknown subcommand "nope"`) {
		t.Errorf("unknown subcommand: exit %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	if code := bench.Dispatch(context.Background(), []string{"forward", "--runs", "0"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--runs") {
		t.Errorf("bad forward args: exit %d, stderr %q", code, errb.String())
	}
	out.Reset()
	if code := bench.Dispatch(context.Background(), []string{"--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "forward") {
		t.Errorf("--help: exit %d, stdout %q", code, out.String())
	}
}

// TestForwardSmoke runs the harness for real, briefly: the NAT lab, one
// run of one second per measurement, and checks that the table has every
// row with sane figures and that nothing is left behind.
func TestForwardSmoke(t *testing.T) {
	roottest.Require(t, forward.Programs...)
	dir := t.TempDir()
	bin := filepath.Join(dir, "gdirector")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/gdirector/gdirector/cmd/gdirector").CombinedOutput(); err != nil {
		t.Fatalf("building gdirector: %v\n%s", err, out)
	}
	opt := forward.Defaults()
	opt.Methods = []string{"nat"}
	opt.Runs, opt.Duration, opt.Warmup = 1, time.Second, 0
	opt.Conns, opt.Flows = 8, 4
	opt.MaxOther = 1 // a smoke test, not a measurement: no waiting for a quiet machine
	opt.Prefix = fmt.Sprintf("gdbt%d", os.Getpid()%100000)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var log bytes.Buffer
	start := time.Now()
	rep, err := forward.Run(ctx, opt, bin, &log)
	t.Logf("harness took %v:\n%s", time.Since(start).Round(time.Millisecond), log.String())
	if err != nil {
		t.Fatal(err)
	}
	var tbl bytes.Buffer
	if err := rep.WriteTable(&tbl); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", tbl.String())

	// Nothing of the lab survives.
	names, _ := nsutil.List()
	for _, n := range names {
		if strings.HasPrefix(n, opt.Prefix) {
			t.Errorf("namespace %s left behind", n)
		}
	}
	if _, err := os.Stat(filepath.Join("/run/gdirector-bench", opt.Prefix+"n")); !os.IsNotExist(err) {
		t.Errorf("state directory left behind: %v", err)
	}

	variants := []string{forward.VarFwd, forward.VarNFT, forward.VarGdirector}
	if strings.Contains(rep.Workers, "--workers 2") {
		variants = append(variants, forward.VarGdirector2)
	}
	want := map[string]bool{}
	for _, tst := range forward.AllTests {
		for _, v := range variants {
			want[string(tst)+"/"+v] = true
		}
	}
	want[string(forward.TestCPS)+"/"+forward.VarHAProxy] = true
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	for _, row := range rep.Rows {
		key := string(row.Test) + "/" + row.Variant
		if !want[key] {
			t.Errorf("unexpected row %s %s", row.Method, key)
			continue
		}
		delete(want, key)
		if row.Method != "nat" || row.Runs != 1 || len(row.Samples) != 1 {
			t.Errorf("%s: method %s, %d runs, %d samples", key, row.Method, row.Runs, len(row.Samples))
		}
		// A data plane without GSO/GRO support may carry next to
		// nothing of a stream of super-frames: that row only has to
		// be there and finite.
		gsoGap := row.Test == forward.TestBulkGSO && strings.HasPrefix(row.Variant, forward.VarGdirector)
		if !(row.Median > 0) && !gsoGap {
			t.Errorf("%s: median %v (notes %q)", key, row.Median, row.Notes)
		}
		if !(row.DirUtil > 0 && row.DirUtil <= 1) {
			t.Errorf("%s: director CPU share %v", key, row.DirUtil)
		}
		if !gsoGap && !(row.DirNSPerPkt > 0 && finite(row.DirNSPerPkt)) {
			t.Errorf("%s: director CPU per packet %v", key, row.DirNSPerPkt)
		}
		if !gsoGap && !(row.XNFT > 0 && finite(row.XNFT) && row.XFwd > 0 && finite(row.XFwd)) {
			t.Errorf("%s: ratios ×nft %v ×fwd %v", key, row.XNFT, row.XFwd)
		}
		if strings.HasPrefix(row.Variant, forward.VarGdirector) {
			if row.Target == "" && row.Test != forward.TestUDP || row.Verdict == "" && row.Target != "" {
				t.Errorf("%s: target %q verdict %q", key, row.Target, row.Verdict)
			}
			if !gsoGap && !(row.ProcNSPerPkt > 0) {
				t.Errorf("%s: gdirector process CPU per packet %v", key, row.ProcNSPerPkt)
			}
		}
		if row.Test == forward.TestUDP && !(row.Offered >= row.Median*0.99) {
			t.Errorf("%s: delivered %v > offered %v", key, row.Median, row.Offered)
		}
	}
	for k := range want {
		t.Errorf("row %s missing", k)
	}
	for _, s := range []string{"udp64", "bulk-gso", "haproxy", "×nft"} {
		if !strings.Contains(tbl.String(), s) {
			t.Errorf("table lacks %q", s)
		}
	}
}
