package ctl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Request is one command sent on the control socket: the command ("" for
// ipvsadm, else a gdirector command such as "mark"), its arguments without
// the program or command name, and optionally what the command reads on its
// standard input (the rules of ipvsadm -R).
type Request struct {
	Cmd   string   `json:"cmd,omitempty"`
	Argv  []string `json:"argv"`
	Input string   `json:"input,omitempty"`
}

// Response is the answer to a Request: what ipvsadm would have written to
// its standard output and error, and its exit status.
type Response struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Code   int    `json:"code"`
}

// Handler runs one command line.
type Handler func(argv []string) (stdout, stderr string, code int)

// InputHandler runs one command line that may read standard input: the
// Request's Input (ipvsadm -R).
type InputHandler func(argv []string, stdin io.Reader) (stdout, stderr string, code int)

// ErrInUse is returned by Serve when another process answers on the path.
var ErrInUse = errors.New("control socket in use by another process")

// Limits of the control socket.
const (
	// CallTimeout bounds a whole Call: connecting, sending and waiting.
	CallTimeout = 10 * time.Second
	// dialTimeout bounds the probe Serve makes to an existing socket.
	dialTimeout = time.Second
	// idleTimeout closes a connection that sends nothing for this long.
	idleTimeout = time.Minute
	// maxLine bounds a request line.
	maxLine = 1 << 20
	// maxSockPath is the longest path a unix socket can be bound to.
	maxSockPath = 107
)

// Serve accepts connections on a unix stream socket at path until ctx is
// done, answering each request line with h's result. The socket has mode
// 0600. A socket file nobody answers on is replaced; Serve refuses to start
// (ErrInUse) when another process answers, and never replaces a file that
// is not a socket. ready, if given, is called once the socket accepts
// connections. Serve removes the socket when it returns, and returns nil
// when ctx ends it.
func Serve(ctx context.Context, path string, h Handler, ready ...func()) error {
	if h == nil {
		return errors.New("ctl: nil handler")
	}
	return ServeMux(ctx, path, map[string]Handler{"": h}, ready...)
}

// ServeMux is Serve with one handler per command (Request.Cmd; "" is
// ipvsadm). A request for a command without a handler is answered with
// exit code 2.
func ServeMux(ctx context.Context, path string, handlers map[string]Handler, ready ...func()) error {
	return (&Mux{Handlers: handlers}).Serve(ctx, path, ready...)
}

// Mux routes a Request to the handler of its command. The same Mux can
// serve the control socket (Serve) and other front ends, such as the
// remote API of package httpapi (Do), so that every command is reachable
// the same way from each. A Mux must not be changed once it serves.
type Mux struct {
	// Handlers holds one handler per command (Request.Cmd; "" is
	// ipvsadm).
	Handlers map[string]Handler
	// InputHandlers holds the commands that read standard input
	// (Request.Input). For a command listed in both maps, this one is
	// used.
	InputHandlers map[string]InputHandler
	// StreamHandlers holds the streaming commands (gdirector trace),
	// served on the control socket only (stream.go): Do refuses them.
	StreamHandlers map[string]StreamHandler
}

// Commands returns the names of the commands m answers, sorted ("" is
// ipvsadm).
func (m *Mux) Commands() []string {
	seen := map[string]bool{}
	var out []string
	for cmd := range m.Handlers {
		seen[cmd] = true
		out = append(out, cmd)
	}
	for cmd := range m.InputHandlers {
		if !seen[cmd] {
			out = append(out, cmd)
		}
	}
	slices.Sort(out)
	return out
}

// check refuses nil handlers.
func (m *Mux) check() error {
	for cmd, h := range m.Handlers {
		if h == nil {
			return fmt.Errorf("ctl: nil handler for %q", cmd)
		}
	}
	for cmd, h := range m.InputHandlers {
		if h == nil {
			return fmt.Errorf("ctl: nil handler for %q", cmd)
		}
	}
	return nil
}

// Do runs one request and returns its answer. A command without a handler,
// or input given to a command that reads none, is answered with exit code 2
// and nothing runs; a handler that panics is answered with exit code 255.
func (m *Mux) Do(req Request) Response {
	if _, ok := m.StreamHandlers[req.Cmd]; ok {
		return Response{Stderr: fmt.Sprintf("gdirector: command %q streams its answer: use the control socket\n", req.Cmd), Code: 2}
	}
	if h, ok := m.InputHandlers[req.Cmd]; ok && h != nil {
		return callInput(h, req.Argv, req.Input)
	}
	h, ok := m.Handlers[req.Cmd]
	if !ok || h == nil {
		return Response{Stderr: fmt.Sprintf("gdirector: this daemon has no command %q\n", req.Cmd), Code: 2}
	}
	if req.Input != "" {
		return Response{Stderr: fmt.Sprintf("gdirector: command %q reads no input\n", req.Cmd), Code: 2}
	}
	return call(h, req.Argv)
}

// Serve listens on a unix stream socket at path until ctx is done and
// answers each request line with m.Do, as Serve describes.
func (m *Mux) Serve(ctx context.Context, path string, ready ...func()) error {
	if err := m.check(); err != nil {
		return err
	}
	if err := clearStale(path); err != nil {
		return err
	}
	ln, err := listen(path)
	if err != nil {
		return err
	}
	ln.SetUnlinkOnClose(false)
	ours, statErr := os.Lstat(path)
	defer func() {
		// Remove the socket only if it is still the one we created.
		if cur, err := os.Lstat(path); statErr == nil && err == nil && os.SameFile(ours, cur) {
			os.Remove(path)
		}
	}()

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	for _, f := range ready {
		if f != nil {
			f()
		}
	}

	var acceptErr error
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				acceptErr = fmt.Errorf("ctl: accept: %w", err)
				ln.Close()
			}
			break
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			c.Close()
			continue
		}
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveConn(c, m)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			c.Close()
		}()
	}
	mu.Lock()
	for c := range conns {
		c.Close()
	}
	mu.Unlock()
	wg.Wait()
	return acceptErr
}

// clearStale removes a socket file at path that nobody answers on.
func clearStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ctl: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("ctl: %s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, dialTimeout); err == nil {
		c.Close()
		return fmt.Errorf("ctl: %s: %w", path, ErrInUse)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ctl: remove stale socket: %w", err)
	}
	return nil
}

// listen creates the socket with mode 0600 without a window in which it is
// reachable with wider permissions: it is bound inside a private (0700)
// directory next to path, restricted, and renamed into place.
func listen(path string) (*net.UnixListener, error) {
	if len(path)+len("/.ctl-1234567890/s") > maxSockPath {
		// No room for the private directory in sun_path: bind in place
		// and restrict at once (the window is only as wide as the
		// directory's own permissions allow).
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			return nil, fmt.Errorf("ctl: listen: %w", err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			ln.Close()
			return nil, fmt.Errorf("ctl: %w", err)
		}
		return ln, nil
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".ctl-")
	if err != nil {
		return nil, fmt.Errorf("ctl: %w", err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("ctl: listen: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("ctl: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("ctl: %w", err)
	}
	return ln, nil
}

// serveConn answers request lines until the client closes, idles out or
// sends a malformed request.
func serveConn(c net.Conn, m *Mux) {
	r := bufio.NewReaderSize(c, 64<<10)
	enc := json.NewEncoder(c)
	for {
		c.SetReadDeadline(time.Now().Add(idleTimeout))
		line, err := readLine(r)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				enc.Encode(Response{Stderr: "gdirector: request too long\n", Code: 2})
			}
			return
		}
		req, err := DecodeRequest(line)
		if err != nil {
			enc.Encode(Response{Stderr: fmt.Sprintf("gdirector: bad request: %v\n", err), Code: 2})
			return
		}
		if h, ok := m.StreamHandlers[req.Cmd]; ok && h != nil && req.Input == "" {
			serveStream(c, r, h, req)
			return
		}
		resp := m.Do(req)
		c.SetWriteDeadline(time.Now().Add(idleTimeout))
		if err := enc.Encode(resp); err != nil {
			return
		}
	}
}

var errLineTooLong = errors.New("line too long")

// DecodeRequest reads one request line strictly: a single JSON object
// with no fields other than Request's and nothing after it.
func DecodeRequest(line []byte) (Request, error) {
	var req Request
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Request{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return Request{}, errors.New("data after the request object")
	}
	return req, nil
}

func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			return nil, err
		}
		line = append(line, chunk...)
		if len(line) > maxLine {
			return nil, errLineTooLong
		}
		if !isPrefix {
			return line, nil
		}
	}
}

// call runs the handler, turning a panic into an error response so that a
// bad command cannot bring the daemon down.
func call(h Handler, argv []string) (resp Response) {
	defer recoverResponse(&resp)
	resp.Stdout, resp.Stderr, resp.Code = h(argv)
	return resp
}

// callInput is call for a handler that reads input.
func callInput(h InputHandler, argv []string, input string) (resp Response) {
	defer recoverResponse(&resp)
	resp.Stdout, resp.Stderr, resp.Code = h(argv, strings.NewReader(input))
	return resp
}

func recoverResponse(resp *Response) {
	if p := recover(); p != nil {
		*resp = Response{Stderr: fmt.Sprintf("gdirector: internal error: %v\n", p), Code: 255}
	}
}

// Call sends one ipvsadm command line to the daemon listening at path and
// returns its answer. The whole exchange is bounded by CallTimeout.
func Call(path string, argv []string) (Response, error) { return CallCmd(path, "", argv) }

// CallCmd is Call for a gdirector command other than ipvsadm ("mark", …).
func CallCmd(path, cmd string, argv []string) (Response, error) {
	return Send(path, Request{Cmd: cmd, Argv: argv})
}

// Send sends one request to the daemon listening at path and returns its
// answer; use it to pass standard input (Request.Input, for ipvsadm -R).
// The whole exchange is bounded by CallTimeout.
func Send(path string, req Request) (Response, error) {
	deadline := time.Now().Add(CallTimeout)
	c, err := net.DialTimeout("unix", path, dialTimeout)
	if err != nil {
		return Response{}, fmt.Errorf("ctl: %w", err)
	}
	defer c.Close()
	c.SetDeadline(deadline)
	if req.Argv == nil {
		req.Argv = []string{}
	}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return Response{}, fmt.Errorf("ctl: send: %w", err)
	}
	line, err := readLine(bufio.NewReader(c))
	if err != nil {
		return Response{}, fmt.Errorf("ctl: receive: %w", err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return Response{}, fmt.Errorf("ctl: bad response: %w", err)
	}
	return resp, nil
}
