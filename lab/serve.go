package lab

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// MaxBytes bounds /bytes?n=N and the body /echo accepts: 64 MiB.
const MaxBytes = 64 << 20

// PatternByte is byte i of the deterministic stream served by /bytes. It
// depends on the position (a multiplicative hash of i, not a short cycle),
// so lost, duplicated or reordered TCP segments show up as a mismatch.
func PatternByte(i int64) byte {
	return byte((uint64(i) * 0x9E3779B97F4A7C15) >> 56)
}

// FillPattern fills b with the pattern bytes starting at stream offset off.
func FillPattern(b []byte, off int64) {
	for i := range b {
		b[i] = PatternByte(off + int64(i))
	}
}

// HTTPHandler returns the handler of the built-in HTTP server:
//
//   - every response has status 200 and the headers X-Real-Server: name and
//     X-Client-Addr: the peer's ip:port as seen by the server;
//   - GET or POST /echo answers the request body verbatim (up to MaxBytes);
//   - GET /bytes?n=N answers N pattern bytes (see PatternByte), N ≤ MaxBytes;
//   - any other request answers "served by NAME\n".
//
// Malformed /bytes or /echo requests get 400 or 413.
func HTTPHandler(name string) http.Handler { return NewHTTPHandler(name, HTTPOptions{}) }

// HTTPOptions model the real server's capacity (serve http --speed).
type HTTPOptions struct {
	// Speed makes GET /work?s=W answer after W seconds of work at speed 1
	// served in a processor-sharing queue of this speed (see PSQueue);
	// 0 answers /work at once. GET /busy answers the seconds the queue
	// has been busy ("busy 1.234567").
	Speed float64
}

// NewHTTPHandler is HTTPHandler with the capacity model of opt.
func NewHTTPHandler(name string, opt HTTPOptions) http.Handler {
	body := []byte("served by " + name + "\n")
	var ps *PSQueue
	if opt.Speed > 0 {
		ps = NewPSQueue(opt.Speed)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Real-Server", name)
		h.Set("X-Client-Addr", r.RemoteAddr)
		switch r.URL.Path {
		case "/work":
			work, err := ParseWork(r.URL.Query().Get("s"))
			if err != nil {
				http.Error(w, "want /work?s=SECONDS with 0 <= SECONDS <= 60", http.StatusBadRequest)
				return
			}
			if ps != nil {
				if err := ps.Serve(r.Context(), work); err != nil {
					return // the client went away
				}
			}
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(body)
		case "/busy":
			var busy float64
			if ps != nil {
				busy = ps.Busy().Seconds()
			}
			out := "busy " + strconv.FormatFloat(busy, 'f', 6, 64) + "\n"
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("Content-Length", strconv.Itoa(len(out)))
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, out)
		case "/echo":
			data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBytes))
			if err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					http.Error(w, "body larger than 64 MiB", http.StatusRequestEntityTooLarge)
					return
				}
				http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
				return
			}
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Content-Length", strconv.Itoa(len(data)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(data)
		case "/bytes":
			n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
			if err != nil || n < 0 || n > MaxBytes {
				http.Error(w, "want /bytes?n=N with 0 <= N <= 67108864", http.StatusBadRequest)
				return
			}
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Content-Length", strconv.FormatInt(n, 10))
			w.WriteHeader(http.StatusOK)
			if r.Method == http.MethodHead {
				return
			}
			buf := make([]byte, 32<<10)
			for off := int64(0); off < n; {
				chunk := buf[:min(int64(len(buf)), n-off)]
				FillPattern(chunk, off)
				if _, err := w.Write(chunk); err != nil {
					return
				}
				off += int64(len(chunk))
			}
		default:
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(body)
		}
	})
}

// ServeHTTP listens on the TCP address listen and serves HTTPHandler(name)
// until ctx is cancelled; it then shuts down (waiting up to 2 s for requests
// in flight) and returns nil.
func ServeHTTP(ctx context.Context, listen, name string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("lab: serve http: %w", err)
	}
	return ServeHTTPOn(ctx, ln, name)
}

// ServeHTTPOn is ServeHTTP on an existing listener, e.g. one opened inside a
// namespace with nsutil.Listen. It closes ln.
func ServeHTTPOn(ctx context.Context, ln net.Listener, name string) error {
	return serveHandlerOn(ctx, ln, HTTPHandler(name))
}

// serveHandlerOn serves h on ln as ServeHTTPOn does.
func serveHandlerOn(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("lab: serve http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("lab: serve http: %w", err)
	}
	return nil
}

// ServeUDP listens on the UDP address listen and answers every datagram,
// to its sender, with "NAME:" followed by the datagram's payload, until ctx
// is cancelled; it then returns nil. Bind a specific address (the RIP): the
// reply's source address is the one the socket is bound to.
func ServeUDP(ctx context.Context, listen, name string) error {
	pc, err := net.ListenPacket("udp", listen)
	if err != nil {
		return fmt.Errorf("lab: serve udp: %w", err)
	}
	return ServeUDPOn(ctx, pc, name)
}

// ServeUDPOn is ServeUDP on an existing socket, e.g. one opened inside a
// namespace with nsutil.ListenPacket. It closes pc.
func ServeUDPOn(ctx context.Context, pc net.PacketConn, name string) error {
	stop := context.AfterFunc(ctx, func() { _ = pc.Close() })
	defer func() {
		stop()
		_ = pc.Close()
	}()
	const maxPayload = 65507 // largest IPv4 UDP payload
	prefix := name + ":"
	in := make([]byte, maxPayload)
	out := make([]byte, 0, maxPayload)
	for {
		n, from, err := pc.ReadFrom(in)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("lab: serve udp: %w", err)
		}
		out = append(append(out[:0], prefix...), in[:n]...)
		if len(out) > maxPayload {
			out = out[:maxPayload] // the reply cannot grow past one datagram
		}
		// A failed reply (e.g. no route back yet) must not stop the server.
		_, _ = pc.WriteTo(out, from)
	}
}

// RunServe implements the argument grammar of `gdirector serve`:
//
//	http --listen ADDR [--name NAME] [--speed S]
//	udp  --listen ADDR [--name NAME]
//
// --speed gives the HTTP server a capacity (HTTPOptions.Speed).
// args excludes "serve" itself. It runs until ctx is cancelled. NAME
// defaults to "rs". Usage errors are reported with the flag set's usage
// written to usage (which may be nil).
func RunServe(ctx context.Context, args []string, usage io.Writer) error {
	if usage == nil {
		usage = io.Discard
	}
	if len(args) == 0 || (args[0] != "http" && args[0] != "udp") {
		fmt.Fprintln(usage, "usage: serve http|udp --listen ADDR [--name NAME] [--speed S (http)]")
		return errors.New("lab: serve: want http or udp")
	}
	kind := args[0]
	flags := flag.NewFlagSet("serve "+kind, flag.ContinueOnError)
	flags.SetOutput(usage)
	listen := flags.String("listen", "", "address to listen on, e.g. 203.0.113.11:80")
	name := flags.String("name", "rs", "name reported in responses")
	speed := "0"
	if kind == "http" {
		flags.StringVar(&speed, "speed", "0", "capacity: GET /work?s=W takes W/speed seconds alone, processor-shared (0 = no model)")
	}
	if err := flags.Parse(args[1:]); err != nil {
		return fmt.Errorf("lab: serve %s: %w", kind, err)
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("lab: serve %s: unexpected arguments %q", kind, flags.Args())
	}
	if *listen == "" {
		flags.Usage()
		return fmt.Errorf("lab: serve %s: --listen is required", kind)
	}
	if kind == "http" {
		sp, err := ParseSpeed(speed)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			return fmt.Errorf("lab: serve http: %w", err)
		}
		return serveHandlerOn(ctx, ln, NewHTTPHandler(*name, HTTPOptions{Speed: sp}))
	}
	return ServeUDP(ctx, *listen, *name)
}
