package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/gdirector/gdirector/ctl"
)

// MaxBody bounds a request body, as the control socket bounds a request
// line (ipvsadm -R input included).
const MaxBody = 1 << 20

// MinTokenLen is the shortest token accepted.
const MinTokenLen = 16

// tokenRE is RFC 6750's b64token, the syntax of a bearer token.
var tokenRE = regexp.MustCompile(`^[A-Za-z0-9\-._~+/]+=*$`)

// commandRE is what a command name must look like to be a path.
var commandRE = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// CheckToken reports whether token is acceptable as the API's bearer token.
func CheckToken(token string) error {
	if len(token) < MinTokenLen {
		return fmt.Errorf("the token has %d characters; use at least %d (openssl rand -hex 32)", len(token), MinTokenLen)
	}
	if !tokenRE.MatchString(token) {
		return errors.New("the token must be one word of letters, digits and -._~+/ (optionally ending in '='), as RFC 6750 defines a bearer token (openssl rand -hex 32)")
	}
	return nil
}

// api serves the endpoints.
type api struct {
	mgr      *ctl.Manager
	mux      *ctl.Mux
	token    [sha256.Size]byte // SHA-256 of the token
	commands map[string]string // path name -> ctl.Mux command
}

// NewHandler returns the API for a Manager and the commands of a ctl.Mux
// (the control socket's), protected by token. The handler refuses
// requests that did not arrive over TLS; it is meant to be served by a
// TLS server (Listen and Serve do that).
func NewHandler(mgr *ctl.Manager, mux *ctl.Mux, token string) (http.Handler, error) {
	if mgr == nil || mux == nil {
		return nil, errors.New("httpapi: nil Manager or Mux")
	}
	if err := CheckToken(token); err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	a := &api{mgr: mgr, mux: mux, token: sha256.Sum256([]byte(token)), commands: map[string]string{}}
	for _, cmd := range mux.Commands() {
		name := cmd
		if cmd == "" {
			name = "ipvsadm"
		}
		if name == "services" || !commandRE.MatchString(name) {
			return nil, fmt.Errorf("httpapi: command %q cannot be served as /v1/%s", cmd, name)
		}
		if _, dup := a.commands[name]; dup {
			return nil, fmt.Errorf("httpapi: two commands are named %q", name)
		}
		a.commands[name] = cmd
	}
	return a, nil
}

// authorized checks the bearer token in constant time.
func (a *api) authorized(r *http.Request) bool {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return false
	}
	scheme, tok, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimLeft(tok, " ")))
	return subtle.ConstantTimeCompare(got[:], a.token[:]) == 1
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.TLS == nil {
		writeError(w, http.StatusForbidden, "TLS required")
		return
	}
	if !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gdirector"`)
		writeError(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	rt, err := parsePath(r.URL.Path, a.commands)
	if err != nil {
		var pe *pathError
		if errors.As(err, &pe) && !pe.notFound {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	if methods := allow[rt.kind]; !slices.Contains(methods, r.Method) {
		w.Header().Set("Allow", strings.Join(methods, ", "))
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; use %s", r.Method, strings.Join(methods, ", ")))
		return
	}
	switch rt.kind {
	case routeServices:
		t := a.mgr.Table()
		list := ServiceList{Services: make([]Service, 0, len(t.Services))}
		for _, s := range t.Services {
			list.Services = append(list.Services, serviceView(s))
		}
		writeJSON(w, http.StatusOK, list)
	case routeService:
		s, err := a.mgr.Service(rt.svc)
		if err != nil {
			writeManagerError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, serviceView(s))
	case routeDest:
		a.serveDest(w, r, rt)
	case routeCommand:
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		req, err := decodeCommand(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		resp := a.mux.Do(ctl.Request{Cmd: rt.cmd, Argv: req.Args, Input: req.Input})
		writeJSON(w, http.StatusOK, CommandResult(resp))
	}
}

func (a *api) serveDest(w http.ResponseWriter, r *http.Request, rt route) {
	addr, port := rt.dest.Addr(), rt.dest.Port()
	switch r.Method {
	case "PUT":
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		weight, err := decodeWeight(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := a.mgr.SetDestWeight(rt.svc, addr, port, weight); err != nil {
			writeManagerError(w, err)
			return
		}
	case "DELETE":
		if err := a.mgr.DelDest(rt.svc, addr, port); err != nil {
			writeManagerError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s, err := a.mgr.Service(rt.svc)
	if err != nil {
		writeManagerError(w, ctl.ErrServiceNotDefined)
		return
	}
	for _, d := range s.Dests {
		if d.Addr == addr && d.Port == port {
			writeJSON(w, http.StatusOK, destView(servicePath(s), d))
			return
		}
	}
	writeManagerError(w, ctl.ErrNoSuchDest)
}

// readBody checks the content type and reads at most MaxBody bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "the body must be JSON (Content-Type: application/json)")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", MaxBody))
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return nil, false
	}
	return body, true
}

// writeManagerError answers a Manager error: a missing service or real
// server is 404, anything else 400, with ipvsadm's message.
func writeManagerError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ctl.ErrNoSuchService), errors.Is(err, ctl.ErrServiceNotDefined), errors.Is(err, ctl.ErrNoSuchDest):
		writeError(w, http.StatusNotFound, err.Error())
	default:
		writeError(w, http.StatusBadRequest, err.Error())
	}
}

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error": "internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}
