package forward

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// wrkResult is what the harness reads from wrk's report.
type wrkResult struct {
	Requests    int64   // "N requests in …"
	RequestsSec float64 // "Requests/sec: X"
	SocketErrs  int64   // connect + read + write + timeout
	Non2xx      int64   // "Non-2xx or 3xx responses: N"
}

// parseWrk reads wrk's (4.x) plain-text report.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var haveReq, haveRate bool
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "Requests/sec:"):
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, "Requests/sec:")), 64)
			if err != nil || v < 0 {
				return wrkResult{}, fmt.Errorf("wrk: bad line %q", line)
			}
			r.RequestsSec, haveRate = v, true
		case strings.Contains(line, " requests in "):
			n, err := strconv.ParseInt(strings.Fields(line)[0], 10, 64)
			if err != nil || n < 0 {
				return wrkResult{}, fmt.Errorf("wrk: bad line %q", line)
			}
			r.Requests, haveReq = n, true
		case strings.HasPrefix(line, "Socket errors:"):
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for _, part := range strings.Split(strings.TrimPrefix(line, "Socket errors:"), ",") {
				f := strings.Fields(part)
				if len(f) != 2 {
					return wrkResult{}, fmt.Errorf("wrk: bad line %q", line)
				}
				n, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil || n < 0 {
					return wrkResult{}, fmt.Errorf("wrk: bad line %q", line)
				}
				r.SocketErrs += n
			}
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "Non-2xx or 3xx responses:")), 10, 64)
			if err != nil || n < 0 {
				return wrkResult{}, fmt.Errorf("wrk: bad line %q", line)
			}
			r.Non2xx = n
		}
	}
	if !haveReq || !haveRate {
		return wrkResult{}, fmt.Errorf("wrk: no request count or rate in its output: %q", clip(out, 400))
	}
	return r, nil
}

// iperfResult is what the harness reads from iperf3 -J.
type iperfResult struct {
	BitsPerSecond float64 // received by the server, omitted seconds excluded
	Bytes         float64
	Seconds       float64
	Retransmits   int64
}

// parseIperf3 reads iperf3's JSON report (-J).
func parseIperf3(out string) (iperfResult, error) {
	var doc struct {
		Error string `json:"error"`
		End   struct {
			SumSent struct {
				Retransmits int64 `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				Seconds       float64 `json:"seconds"`
				Bytes         float64 `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return iperfResult{}, fmt.Errorf("iperf3: unreadable JSON report: %v: %q", err, clip(out, 400))
	}
	if doc.Error != "" {
		return iperfResult{}, fmt.Errorf("iperf3: %s", doc.Error)
	}
	s := doc.End.SumReceived
	if s.Seconds <= 0 || s.Bytes < 0 || s.BitsPerSecond < 0 {
		return iperfResult{}, fmt.Errorf("iperf3: no received total in its report: %q", clip(out, 400))
	}
	return iperfResult{BitsPerSecond: s.BitsPerSecond, Bytes: s.Bytes, Seconds: s.Seconds, Retransmits: doc.End.SumSent.Retransmits}, nil
}

// clip shortens s to at most n bytes for error messages.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
