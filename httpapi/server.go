package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gdirector/gdirector/ctl"
)

// Server limits.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 16 << 10
	shutdownTimeout   = 5 * time.Second
	// maxTokenFile bounds what LoadToken reads.
	maxTokenFile = 4 << 10
)

// Config enables the remote API. Every field but Logf is required.
type Config struct {
	Addr      string // host:port to listen on (gdirector run --api)
	CertFile  string // PEM certificate chain (--api-cert)
	KeyFile   string // PEM private key (--api-key)
	TokenFile string // the bearer token (--api-token-file), mode 0600 or stricter
	// Logf, if set, receives the HTTP server's errors (failed TLS
	// handshakes, …).
	Logf func(format string, args ...any)
}

// Enabled reports whether the configuration asks for the API at all.
func (c Config) Enabled() bool {
	return c.Addr != "" || c.CertFile != "" || c.KeyFile != "" || c.TokenFile != ""
}

// Check reports the first missing setting of an enabled configuration.
func (c Config) Check() error {
	var missing []string
	for _, f := range []struct{ val, flag string }{
		{c.Addr, "--api ADDR"}, {c.CertFile, "--api-cert FILE"}, {c.KeyFile, "--api-key FILE"}, {c.TokenFile, "--api-token-file FILE"},
	} {
		if f.val == "" {
			missing = append(missing, f.flag)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the remote API needs --api ADDR, --api-cert FILE, --api-key FILE and --api-token-file FILE together (missing %s); it never serves plain HTTP or without a token", strings.Join(missing, ", "))
	}
	return nil
}

// LoadToken reads the bearer token from path. Like ssh with a private key,
// it refuses a file that its group or others may read or write, and a file
// that is not a regular file; the token (white space around it removed)
// must pass CheckToken.
func LoadToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("token file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("permissions %04o for token file %s are too open: it must not be accessible by group or others (chmod 600 %s)", perm, path, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("token file %s is larger than %d bytes", path, maxTokenFile)
	}
	tok := strings.TrimSpace(string(b))
	if err := CheckToken(tok); err != nil {
		return "", fmt.Errorf("token file %s: %w", path, err)
	}
	return tok, nil
}

// TLSConfig loads a certificate and key into a server configuration that
// accepts TLS 1.2 and later only.
func TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("certificate %s / key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// Server is the remote API's listening socket with its credentials, ready
// to serve.
type Server struct {
	ln    net.Listener
	tls   *tls.Config
	token string
	logf  func(string, ...any)
	once  sync.Once
}

// Listen checks cfg (all fields set), loads the token, the certificate
// and the key, and binds the address, so that every mistake shows before
// the daemon starts. Serve or Close must follow.
func Listen(cfg Config) (*Server, error) {
	if err := cfg.Check(); err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	tok, err := LoadToken(cfg.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	tc, err := TLSConfig(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Server{ln: ln, tls: tc, token: tok, logf: logf}, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close closes the listening socket of a server that will not Serve.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() { err = s.ln.Close() })
	return err
}

// Serve answers HTTPS requests for mgr and mux (see NewHandler) until ctx
// is done, then stops accepting, gives requests in progress a few seconds
// and closes. It returns nil when ctx ended it.
func (s *Server) Serve(ctx context.Context, mgr *ctl.Manager, mux *ctl.Mux) error {
	h, err := NewHandler(mgr, mux, s.token)
	if err != nil {
		s.Close()
		return err
	}
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         s.tls,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          log.New(logWriter(s.logf), "", 0),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}()
	err = srv.ServeTLS(s.ln, "", "")
	close(done)
	<-stopped
	s.once.Do(func() {}) // ServeTLS closed the listener
	if errors.Is(err, http.ErrServerClosed) && ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("httpapi: %w", err)
}

// logWriter turns the HTTP server's log lines into Logf calls.
type logWriter func(string, ...any)

func (f logWriter) Write(p []byte) (int, error) {
	f("gdirector: remote API: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
