// Package httpapi is gdirector's remote management API: JSON over HTTPS,
// off unless `gdirector run --api ADDR` enables it, and then only with a
// TLS certificate and key and a bearer token.
//
// # Security
//
// The server speaks TLS 1.2 or later only and never plain HTTP: a plain
// request on the port gets Go's "HTTP request to an HTTPS server" error,
// and the handler itself refuses any request that did not arrive over TLS.
// Every request must carry "Authorization: Bearer TOKEN", where TOKEN is
// the content of the token file (surrounding white space removed). The
// comparison takes the same time whatever the token sent (SHA-256 of both,
// compared with crypto/subtle); a missing or wrong token gets 401 with no
// detail. Like ssh with a private key, the daemon refuses to start when the
// token file can be read or written by its group or by others, when it is
// not a regular file, or when the token is shorter than MinTokenLen or is
// not an RFC 6750 token (letters, digits and -._~+/ with optional trailing
// '='): generate one with `openssl rand -hex 32`. One token grants
// everything, listing and changing alike, exactly as access to the control
// socket does; there are no read-only tokens. The token, certificate and
// key are read once, when the daemon starts: restart it to change them.
//
// # Endpoints
//
// All answers are JSON. The service and real-server views mirror ctl's
// Manager and ipvsadm's listings:
//
//	GET    /v1/services                      every service with its real servers: weights, connection counts, traffic counters and rates
//	GET    /v1/services/SVC                  one service
//	GET    /v1/services/SVC/dests/ADDR/PORT  one real server
//	PUT    /v1/services/SVC/dests/ADDR/PORT  {"weight": N}: change only the weight (0 quiesces: no new connections)
//	DELETE /v1/services/SVC/dests/ADDR/PORT  remove the real server (ipvsadm -d)
//	POST   /v1/ipvsadm                       {"args": [...], "input": "..."}: run ipvsadm, answer {"stdout", "stderr", "code"}
//	POST   /v1/CMD                           the same for every other command of the control socket (mark, …)
//
// SVC is tcp/ADDR/PORT, udp/ADDR/PORT or sctp/ADDR/PORT for a virtual
// address (IPv6 without brackets: tcp/2001:db8::10/80), fwmark/MARK for an
// IPv4 firewall-mark service and fwmark6/MARK for an IPv6 one; every
// service and real server in a listing carries its own path. Services are
// listed in the order they were added, real servers in the kernel's order
// (most recently added first).
//
// POST /v1/ipvsadm and /v1/CMD run the same handlers (ctl.Mux) as the
// control socket, so anything `gdirector ipvsadm` or `gdirector mark` can
// do is reachable; "input" is the standard input of ipvsadm -R. The answer
// is 200 whenever the command ran, whatever its exit status ("code").
//
// # Requests and errors
//
// Request bodies are JSON objects (Content-Type application/json, at most
// MaxBody bytes) decoded strictly: an unknown field, a value of the wrong
// type, a missing required field or anything after the object gets 400 and
// changes nothing. Errors are {"error": "text"} with 400 (bad request or
// path), 401 (token), 403 (not TLS), 404 (no such path, service or real
// server, with ipvsadm's message), 405 (method; the Allow header lists the
// right ones), 413 (body too large) or 415 (not JSON).
package httpapi
