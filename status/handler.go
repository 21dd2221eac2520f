package status

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/vs"
)

// Paths the handler serves.
const (
	PagePath = "/"
	JSONPath = "/status.json"
)

// HealthFunc is a health checker's verdict on real server d of svc; known
// is false when no checker watches it. It has the signature of
// healthcheck.Engine.Verdict and metrics.HealthFunc, and must be safe for
// concurrent use.
type HealthFunc func(svc *vs.Service, d *vs.Dest) (up, known bool)

// ConnLister walks a connection table (ctl.Manager.Conns).
type ConnLister interface {
	Range(fn func(*conntrack.Conn) bool)
}

// Defaults of Config.
const (
	DefaultScanEvery        = time.Second
	DefaultMaxScan          = 65536
	DefaultRecentPerService = 5
)

// Config is what the handler reads. Only Table is required.
type Config struct {
	// Table returns the current configuration snapshot (ctl.Manager.Table).
	Table func() *vs.Table
	// Health is the health checkers' verdict; nil = none.
	Health HealthFunc
	// Conns is the connection table the newest connections come from
	// (ctl.Manager.Conns); nil lists none.
	Conns ConnLister
	// ConnClock is the connection table's clock, the scale of
	// conntrack.Conn.Expires (ctl.Manager.Now); nil = clock.Real.
	ConnClock func() int64
	// Conntrack returns the number of entries of the connection table and
	// its capacity; nil leaves them out.
	Conntrack func() (entries, capacity int)
	// HA reports the VRRP instances and sync daemons; nil = none.
	HA HAReporter
	// Now is the wall clock of the document's time; nil = time.Now.
	Now func() time.Time
	// ScanEvery is the least time between two walks of the connection
	// table, however many pages poll; 0 = DefaultScanEvery, negative =
	// walk at every request (tests).
	ScanEvery time.Duration
	// MaxScan is the most connections one walk looks at; 0 =
	// DefaultMaxScan.
	MaxScan int
	// RecentPerService is how many connections each service lists; 0 =
	// DefaultRecentPerService.
	RecentPerService int
	// Trace starts the sampled packet trace the page shows while it is
	// viewed (with PacketFilter); nil shows no packets.
	Trace TraceFunc
	// TraceIdle is how long the trace runs after the last request for
	// the document; 0 = DefaultTraceIdle.
	TraceIdle time.Duration
	// PacketsPerService is how many packets each service keeps; 0 =
	// DefaultPacketsPerService.
	PacketsPerService int
}

// Handler serves the status page and its JSON document. It is safe for
// concurrent use.
type Handler struct {
	cfg     *Config
	recent  tracker
	packets packets
}

// New returns a handler reading cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Table == nil {
		return nil, errors.New("status: Config.Table is required")
	}
	if cfg.ConnClock == nil {
		cfg.ConnClock = clock.Real{}.Now
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ScanEvery == 0 {
		cfg.ScanEvery = DefaultScanEvery
	}
	if cfg.MaxScan <= 0 {
		cfg.MaxScan = DefaultMaxScan
	}
	if cfg.RecentPerService <= 0 {
		cfg.RecentPerService = DefaultRecentPerService
	}
	if cfg.TraceIdle <= 0 {
		cfg.TraceIdle = DefaultTraceIdle
	}
	if cfg.PacketsPerService <= 0 {
		cfg.PacketsPerService = DefaultPacketsPerService
	}
	return &Handler{cfg: &cfg}, nil
}

// Snapshot builds the JSON document from the current table.
func (h *Handler) Snapshot() View {
	return h.build(h.cfg.Table(), h.cfg.Now())
}

// Close stops the page's packet trace, if one runs, and waits for it to
// end; the handler starts none after Close.
func (h *Handler) Close() { h.packets.close() }

//go:embed page.html
var page []byte

// csp allows the page its own script and style, identified by their
// hashes, and requests to its own origin; nothing else.
var csp = contentSecurityPolicy(page)

// contentSecurityPolicy returns the policy for an HTML page whose only
// script and style are its first <script> and <style> elements.
func contentSecurityPolicy(html []byte) string {
	hash := func(tag string) string {
		open := []byte("<" + tag + ">")
		i := bytes.Index(html, open)
		j := bytes.Index(html, []byte("</"+tag+">"))
		if i < 0 || j < i {
			panic("status: page.html lacks its <" + tag + "> element")
		}
		sum := sha256.Sum256(html[i+len(open) : j])
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src " + hash("script"),
		"style-src " + hash("style"),
		"connect-src 'self'",
		"img-src 'self'",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

// ServeHTTP answers GET and HEAD for the page and the document, 404
// elsewhere and 405 for other methods.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	var body []byte
	switch r.URL.Path {
	case PagePath:
		hd.Set("Content-Type", "text/html; charset=utf-8")
		body = page
	case JSONPath:
		hd.Set("Content-Type", "application/json")
	default:
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if body == nil {
		// Someone views the page: keep (or start) its packet trace.
		h.packets.touch(h.cfg)
		var err error
		if body, err = json.Marshal(h.Snapshot()); err != nil {
			http.Error(w, "500 "+err.Error(), http.StatusInternalServerError)
			return
		}
		body = append(body, '\n')
	}
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}
