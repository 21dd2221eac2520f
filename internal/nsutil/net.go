package nsutil

import (
	"context"
	"net"
	"net/http"
	"time"
)

// DialContext connects to address from inside the named namespace. The
// socket is created on a thread switched into ns and stays there; the
// returned net.Conn can be used from any goroutine. Use literal IP
// addresses: name resolution would not run inside the namespace.
func DialContext(ctx context.Context, ns, network, address string) (net.Conn, error) {
	var c net.Conn
	err := Do(ns, func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// Listen opens a stream listener inside the named namespace.
func Listen(ns, network, address string) (net.Listener, error) {
	var ln net.Listener
	err := Do(ns, func() error {
		var err error
		ln, err = net.Listen(network, address)
		return err
	})
	return ln, err
}

// ListenPacket opens a packet socket (e.g. "udp") inside the named namespace.
func ListenPacket(ns, network, address string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := Do(ns, func() error {
		var err error
		pc, err = net.ListenPacket(network, address)
		return err
	})
	return pc, err
}

// HTTPClient returns an HTTP client whose connections are dialled inside the
// named namespace: no proxy, no keep-alive (every request is a new TCP
// connection, so a load balancer schedules each one), 10 s timeout.
func HTTPClient(ns string) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return DialContext(ctx, ns, network, addr)
			},
			DisableKeepAlives:   true,
			TLSHandshakeTimeout: 5 * time.Second,
		},
	}
}
