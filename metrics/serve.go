package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where the endpoint serves the exposition.
const Path = "/metrics"

// ParseListenAddr checks a --metrics address, HOST:PORT where HOST is an IP
// address (IPv6 in brackets, optionally with a zone) or empty for every
// address of the host, and PORT a decimal number 1..65535. Host names are
// refused, so that starting the daemon never waits for a resolver. It
// returns the address in canonical form.
func ParseListenAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("metrics address %q: want HOST:PORT, e.g. 127.0.0.1:9102 or [::1]:9102", s)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 || port[0] == '+' {
		return "", fmt.Errorf("metrics address %q: port %q: want a number 1..65535", s, port)
	}
	if host != "" {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return "", fmt.Errorf("metrics address %q: host %q is not an IP address (give one, or nothing for all addresses)", s, host)
		}
		if a.Is4In6() {
			a = a.Unmap()
		}
		host = a.String()
	}
	return net.JoinHostPort(host, strconv.FormatUint(p, 10)), nil
}

// Listen checks addr with ParseListenAddr and opens a TCP listener on it.
func Listen(addr string) (net.Listener, error) {
	a, err := ParseListenAddr(addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", a)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return ln, nil
}

// NewRegistry returns a registry holding a Collector over src and the Go
// runtime and process collectors.
func NewRegistry(src Source) (*prometheus.Registry, error) {
	c, err := NewCollector(src)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	for _, col := range []prometheus.Collector{
		c,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// Handler returns the HTTP handler of the endpoint: the exposition of reg
// at Path, 404 elsewhere.
func Handler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(Path, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:            reg, // counts the endpoint's own errors
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	return mux
}

// shutdownGrace bounds how long Serve waits for scrapes in flight.
const shutdownGrace = 2 * time.Second

// Serve serves h on ln until ctx ends, then closes ln and returns once the
// scrapes in flight are answered (or after a short grace). It returns nil
// after a shutdown and the server's error if serving failed.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		ln.Close()
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
