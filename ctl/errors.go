package ctl

import "errors"

// Sentinel errors. Their texts are what ipvsadm prints for the kernel's
// error codes; the comment gives the errno behind each.
var (
	// ErrServiceExists: adding a service that exists (EEXIST).
	ErrServiceExists = errors.New("Service already exists")
	// ErrNoSuchService: editing, deleting, zeroing or listing a service
	// that does not exist (ESRCH).
	ErrNoSuchService = errors.New("No such service")
	// ErrServiceNotDefined: adding, editing or deleting a real server of
	// a service that does not exist (ESRCH).
	ErrServiceNotDefined = errors.New("Service not defined")
	// ErrDestExists: adding a real server that exists (EEXIST).
	ErrDestExists = errors.New("Destination already exists")
	// ErrNoSuchDest: editing or deleting a real server that does not
	// exist (ENOENT).
	ErrNoSuchDest = errors.New("No such destination")
	// ErrSchedulerNotFound: unknown scheduler or persistence engine
	// (ENOENT); for a scheduler it also wraps sched.ErrUnknown.
	ErrSchedulerNotFound = errors.New("Scheduler or persistence engine not found")
	// ErrInvalid: an argument the kernel refuses (EINVAL): a real server
	// address that is not unicast, an IPv6 persistence prefix outside
	// 1..128, a mixed address family without tunneling, a timeout out of
	// range, an unknown protocol or forwarding method.
	ErrInvalid = errors.New("Invalid operation.  Possibly wrong module version, address not unicast, ...")
	// ErrRange: a negative weight, or a lower threshold above the upper
	// one (ERANGE; ipvsadm prints strerror).
	ErrRange = errors.New("Numerical result out of range")

	// The FullNAT local address errors carry the texts of DPVS's
	// ipvs_strerror (tools/keepalived/keepalived/check/libipvs.c); a
	// missing service is ErrServiceNotDefined, as DPVS reports it for its
	// laddr operations.

	// ErrLAddrExists: adding a local address the service has (EEXIST).
	ErrLAddrExists = errors.New("Local address already exists")
	// ErrNoSuchLAddr: deleting a local address the service does not have
	// (ENOENT).
	ErrNoSuchLAddr = errors.New("No such Local address")
	// ErrAddrFamily: a local address of the other family than the
	// service's (EAFNOSUPPORT). DPVS accepts an IPv4 local address on an
	// IPv6 service for NAT64, which gdirector does not do.
	ErrAddrFamily = errors.New("Operation not supported with specified address family")
)

// opError is a sentinel with a cause: its text is the sentinel's, and
// errors.Is matches both.
type opError struct {
	kind, cause error
}

func (e *opError) Error() string   { return e.kind.Error() }
func (e *opError) Unwrap() []error { return []error{e.kind, e.cause} }
