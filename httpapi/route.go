package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

// routeKind is what a path names.
type routeKind uint8

const (
	routeServices routeKind = iota + 1 // /v1/services
	routeService                       // /v1/services/SVC
	routeDest                          // /v1/services/SVC/dests/ADDR/PORT
	routeCommand                       // /v1/CMD
)

// route is a parsed request path.
type route struct {
	kind routeKind
	svc  ctl.ServiceID
	dest netip.AddrPort
	cmd  string // the ctl.Mux command ("" = ipvsadm)
}

// allow is the methods each kind of path answers.
var allow = map[routeKind][]string{
	routeServices: {"GET", "HEAD"},
	routeService:  {"GET", "HEAD"},
	routeDest:     {"GET", "HEAD", "PUT", "DELETE"},
	routeCommand:  {"POST"},
}

// pathError is a path that names nothing (404) or is malformed (400).
type pathError struct {
	notFound bool
	msg      string
}

func (e *pathError) Error() string { return e.msg }

var errNotFound = &pathError{notFound: true, msg: "not found"}

func badPath(format string, args ...any) error {
	return &pathError{msg: fmt.Sprintf(format, args...)}
}

// parsePath reads a request path; commands are the command names the API
// answers on /v1/CMD ("ipvsadm" for ctl's "").
func parsePath(path string, commands map[string]string) (route, error) {
	rest, ok := strings.CutPrefix(path, "/v1/")
	if !ok {
		return route{}, errNotFound
	}
	seg := strings.Split(rest, "/")
	for _, s := range seg {
		if s == "" {
			return route{}, errNotFound
		}
	}
	if seg[0] != "services" {
		if cmd, ok := commands[seg[0]]; ok && len(seg) == 1 {
			return route{kind: routeCommand, cmd: cmd}, nil
		}
		return route{}, errNotFound
	}
	seg = seg[1:]
	if len(seg) == 0 {
		return route{kind: routeServices}, nil
	}
	id, n, err := parseServiceID(seg)
	if err != nil {
		return route{}, err
	}
	seg = seg[n:]
	switch {
	case len(seg) == 0:
		return route{kind: routeService, svc: id}, nil
	case seg[0] == "dests" && len(seg) == 3:
		addr, err := parseAddr(seg[1])
		if err != nil {
			return route{}, err
		}
		port, err := parsePort(seg[2])
		if err != nil {
			return route{}, err
		}
		return route{kind: routeDest, svc: id, dest: netip.AddrPortFrom(addr, port)}, nil
	}
	return route{}, errNotFound
}

// parseServiceID reads tcp|udp|sctp/ADDR/PORT or fwmark|fwmark6/MARK and
// returns how many segments it used.
func parseServiceID(seg []string) (ctl.ServiceID, int, error) {
	switch p := strings.ToLower(seg[0]); p {
	case "tcp", "udp", "sctp":
		if len(seg) < 3 {
			return ctl.ServiceID{}, 0, badPath("a %s service is %s/ADDRESS/PORT", p, p)
		}
		addr, err := parseAddr(seg[1])
		if err != nil {
			return ctl.ServiceID{}, 0, err
		}
		port, err := parsePort(seg[2])
		if err != nil {
			return ctl.ServiceID{}, 0, err
		}
		proto := map[string]vs.Proto{"tcp": vs.TCP, "udp": vs.UDP, "sctp": vs.SCTP}[p]
		return ctl.ServiceID{Proto: proto, Addr: addr, Port: port}, 3, nil
	case "fwmark", "fwmark6":
		if len(seg) < 2 {
			return ctl.ServiceID{}, 0, badPath("a firewall-mark service is %s/MARK", p)
		}
		mark, err := strconv.ParseUint(seg[1], 10, 32)
		if err != nil || mark == 0 || !digits(seg[1]) {
			return ctl.ServiceID{}, 0, badPath("bad firewall mark %q: want 1 to 4294967295", seg[1])
		}
		return ctl.ServiceID{FwMark: uint32(mark), IPv6: p == "fwmark6"}, 2, nil
	}
	return ctl.ServiceID{}, 0, badPath("bad service kind %q: want tcp, udp, sctp, fwmark or fwmark6", seg[0])
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, badPath("bad address %q", s)
	}
	return a, nil
}

func parsePort(s string) (uint16, error) {
	v, err := strconv.ParseUint(s, 10, 16)
	if err != nil || !digits(s) {
		return 0, badPath("bad port %q: want 0 to 65535", s)
	}
	return uint16(v), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// servicePath is the API path of a service.
func servicePath(s *vs.Service) string {
	if s.FwMark != 0 {
		kind := "fwmark"
		if s.IPv6 {
			kind = "fwmark6"
		}
		return fmt.Sprintf("/v1/services/%s/%d", kind, s.FwMark)
	}
	return fmt.Sprintf("/v1/services/%s/%s/%d", strings.ToLower(s.Proto.String()), s.Addr, s.Port)
}

// destPath is the API path of a real server of a service.
func destPath(svcPath string, d *vs.Dest) string {
	return fmt.Sprintf("%s/dests/%s/%d", svcPath, d.Addr, d.Port)
}

// commandRequest is the body of POST /v1/ipvsadm and /v1/CMD.
type commandRequest struct {
	Args  []string `json:"args"`
	Input string   `json:"input"`
}

// weightRequest is the body of PUT /v1/services/SVC/dests/ADDR/PORT.
type weightRequest struct {
	Weight *int64 `json:"weight"`
}

// maxWeight is ipvsadm's bound on -w.
const maxWeight = 65535

// decodeStrict reads exactly one JSON object into v: unknown fields, wrong
// types and anything after the object are errors.
func decodeStrict(body []byte, v any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return errors.New("empty body: want a JSON object")
	}
	if trimmed[0] != '{' {
		return errors.New("bad JSON: want an object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("bad JSON: data after the object")
	}
	return nil
}

// decodeCommand reads a command request body.
func decodeCommand(body []byte) (commandRequest, error) {
	var req commandRequest
	if err := decodeStrict(body, &req); err != nil {
		return commandRequest{}, err
	}
	return req, nil
}

// decodeWeight reads a weight request body.
func decodeWeight(body []byte) (int32, error) {
	var req weightRequest
	if err := decodeStrict(body, &req); err != nil {
		return 0, err
	}
	if req.Weight == nil {
		return 0, errors.New(`missing "weight"`)
	}
	if *req.Weight < 0 || *req.Weight > maxWeight {
		return 0, fmt.Errorf("weight %d out of range 0 to %d", *req.Weight, maxWeight)
	}
	return int32(*req.Weight), nil
}
