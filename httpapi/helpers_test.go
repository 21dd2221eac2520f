package httpapi

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/ipvsadm"
	"github.com/gdirector/gdirector/markcmd"
)

const testToken = "0123456789abcdef0123456789abcdef"

// testCert is a self-signed certificate for 127.0.0.1, ::1 and localhost.
type testCert struct {
	certPEM, keyPEM []byte
	pair            tls.Certificate
	pool            *x509.CertPool
}

func newCert(t testing.TB) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gdirector test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := &testCert{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
		pool:    x509.NewCertPool(),
	}
	if c.pair, err = tls.X509KeyPair(c.certPEM, c.keyPEM); err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	c.pool.AddCert(leaf)
	return c
}

// client trusts only c.
func (c *testCert) client(minVersion, maxVersion uint16) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: c.pool, MinVersion: minVersion, MaxVersion: maxVersion,
		}},
	}
}

// newMux returns a Manager and the daemon's commands for it.
func newMux() (*ctl.Manager, *ctl.Mux) {
	m := ctl.NewManager(ctl.Config{})
	return m, &ctl.Mux{
		Handlers: map[string]ctl.Handler{
			"":     func(argv []string) (string, string, int) { return ipvsadm.Run(m, argv) },
			"mark": func(argv []string) (string, string, int) { return markcmd.Run(m, argv) },
		},
		InputHandlers: map[string]ctl.InputHandler{
			"": func(argv []string, in io.Reader) (string, string, int) { return ipvsadm.RunInput(m, argv, in) },
		},
	}
}

// rig is an API served over TLS by httptest with a real Manager.
type rig struct {
	t      *testing.T
	m      *ctl.Manager
	srv    *httptest.Server
	client *http.Client
}

func newRig(t *testing.T, setup ...string) *rig {
	t.Helper()
	m, mux := newMux()
	for _, line := range setup {
		if o, e, c := ipvsadm.Run(m, strings.Fields(line)); c != 0 {
			t.Fatalf("setup %q: %d %q %q", line, c, o, e)
		}
	}
	h, err := NewHandler(m, mux, testToken)
	if err != nil {
		t.Fatal(err)
	}
	cert := newCert(t)
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert.pair}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &rig{t: t, m: m, srv: srv, client: cert.client(0, 0)}
}

// do sends a request with the right token and a JSON body (if not nil)
// and returns the status and body.
func (r *rig) do(method, path string, body any) (int, []byte) {
	r.t.Helper()
	var rd io.Reader
	hdr := http.Header{"Authorization": {"Bearer " + testToken}}
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
		hdr.Set("Content-Type", "application/json")
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
		hdr.Set("Content-Type", "application/json")
	}
	return r.raw(method, path, hdr, rd)
}

func (r *rig) raw(method, path string, hdr http.Header, body io.Reader) (int, []byte) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+path, body)
	if err != nil {
		r.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := r.client.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusNoContent && method != "HEAD" && ct != "application/json" {
		r.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp.StatusCode, b
}

// dump is the whole configuration as ipvsadm shows it, counters included.
func (r *rig) dump() string {
	o1, _, _ := ipvsadm.Run(r.m, []string{"-S", "-n"})
	o2, _, _ := ipvsadm.Run(r.m, []string{"-L", "-n", "--thresholds"})
	o3, _, _ := ipvsadm.Run(r.m, []string{"-L", "-n", "--stats", "--exact"})
	o4, _, _ := markcmd.Run(r.m, []string{"list"})
	return o1 + o2 + o3 + o4
}

func errorOf(t testing.TB, body []byte) string {
	t.Helper()
	var e struct{ Error string }
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Fatalf("not an error body: %q (%v)", body, err)
	}
	return e.Error
}

// writeFiles writes the certificate, key and token into a directory.
func writeFiles(t testing.TB, c *testCert, token string, tokenMode os.FileMode) (certFile, keyFile, tokenFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile, tokenFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "token")
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{{certFile, c.certPEM, 0o644}, {keyFile, c.keyPEM, 0o600}, {tokenFile, []byte(token), tokenMode}} {
		if err := os.WriteFile(f.name, f.data, f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f.name, f.mode); err != nil { // umask
			t.Fatal(err)
		}
	}
	return
}
