package ctl_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/ipvsadm"
)

// serveIpvsadm serves ipvsadm for a new Manager on a socket in dir, as the
// daemon does, and returns the socket's path and a function that stops it.
func serveIpvsadm(dir string) (path string, stop func(), err error) {
	m := ctl.NewManager(ctl.Config{})
	mux := &ctl.Mux{
		Handlers: map[string]ctl.Handler{
			"": func(argv []string) (string, string, int) { return ipvsadm.Run(m, argv) },
		},
		InputHandlers: map[string]ctl.InputHandler{
			"": func(argv []string, in io.Reader) (string, string, int) { return ipvsadm.RunInput(m, argv, in) },
		},
	}
	path = filepath.Join(dir, "gdirector.sock")
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- mux.Serve(ctx, path, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		return "", nil, err
	}
	return path, func() { cancel(); <-done }, nil
}

// A Go program drives the daemon through its control socket exactly as the
// ipvsadm command line does: Call for a command line, Send to pass
// standard input as well (ipvsadm -R).
func ExampleCall() {
	dir, _ := os.MkdirTemp("", "ctl-example-")
	defer os.RemoveAll(dir)
	path, stop, err := serveIpvsadm(dir) // gdirector run does this
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	for _, argv := range [][]string{
		{"-A", "-t", "192.0.2.10:80", "-s", "rr"},
		{"-a", "-t", "192.0.2.10:80", "-r", "203.0.113.11:80", "-m"},
		{"-a", "-t", "192.0.2.10:80", "-r", "203.0.113.11:80", "-m"}, // again: refused
	} {
		resp, err := ctl.Call(path, argv)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(strings.TrimSpace(fmt.Sprintf("%s: exit %d %s", argv[0], resp.Code, resp.Stderr)))
	}
	rules := "-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 2\n"
	resp, _ := ctl.Send(path, ctl.Request{Argv: []string{"-R"}, Input: rules})
	fmt.Printf("restore: exit %d\n", resp.Code)

	resp, _ = ctl.Call(path, []string{"-S", "-n"})
	fmt.Print(resp.Stdout)
	// Output:
	// -A: exit 0
	// -a: exit 0
	// -a: exit 255 Destination already exists
	// restore: exit 0
	// -A -t 192.0.2.10:80 -s rr
	// -a -t 192.0.2.10:80 -r 203.0.113.11:80 -m -w 1
	// -a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 2
}
