package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gdirector/gdirector/lab"
)

// apiAddr is where the director serves the remote API, inside its own
// namespace.
const apiAddr = "127.0.0.1:9443"

// apiFiles writes a self-signed certificate for 127.0.0.1, its key and a
// token into dir, the token with mode tokenMode.
func apiFiles(t *testing.T, dir string, tokenMode os.FileMode) (cert, key, tokenFile, token string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gdirector e2e"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 24)
	rand.Read(raw)
	token = hex.EncodeToString(raw)
	cert, key, tokenFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "token")
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644},
		{key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600},
		{tokenFile, []byte(token + "\n"), tokenMode},
	} {
		if err := os.WriteFile(f.name, f.data, f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f.name, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	return cert, key, tokenFile, token
}

// TestHTTPAPI configures and drives a NAT director only through the remote
// API, with curl inside the director's namespace: services added with
// POST /v1/ipvsadm carry real traffic, GET /v1/services shows its counters,
// a weight of 0 quiesces a real server, DELETE removes one; a missing or
// wrong token and plain HTTP are refused; a token file others can read
// keeps the daemon from starting at all.
func TestHTTPAPI(t *testing.T) {
	topo := buildLab(t, "nat", lab.Options{})
	if err := topo.StartReals(bin); err != nil {
		t.Fatalf("start reals: %v", err)
	}
	if _, err := nsutil.SetSysctl(topo.DirectorNS, "net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key, tokenFile, token := apiFiles(t, dir, 0o600)
	sock := filepath.Join(dir, "ctl.sock")
	apiFlags := []string{"--api", apiAddr, "--api-cert", cert, "--api-key", key, "--api-token-file", tokenFile}

	// Refused starts: nothing changes on the host.
	openDir := t.TempDir()
	_, _, openToken, _ := apiFiles(t, openDir, 0o644)
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--api", apiAddr, "--api-cert", cert, "--api-key", key, "--api-token-file", openToken}, "permissions 0644 for token file"},
		{[]string{"--api", apiAddr, "--api-cert", cert}, "missing --api-key FILE, --api-token-file FILE"},
	} {
		argv := append([]string{bin, "run", "--ctl", sock}, tc.flags...)
		for _, ifc := range topo.DirIfaces {
			argv = append(argv, "--iface", ifc)
		}
		out, err := run2(topo.DirectorNS, argv...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("gdirector run %s: %v\n%s\nwant %q", strings.Join(tc.flags, " "), err, out, tc.want)
		}
		if v, _ := nsutil.Sysctl(topo.DirectorNS, "net.ipv4.ip_forward"); v != "1" {
			t.Fatalf("a refused start changed ip_forward to %s", v)
		}
	}

	e := &env{Topology: topo, sock: sock, logFile: filepath.Join(dir, "director.log")}
	var err error
	e.dir, err = topo.StartDirectorArgs(bin, e.sock, e.logFile, apiFlags...)
	if err != nil {
		t.Fatalf("start director: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(e.logFile)
			t.Logf("director log:\n%s", log)
		}
	})

	// api runs curl in the director's namespace and returns the status
	// and body; auth "" sends no token.
	api := func(auth, method, path, body string) (int, string) {
		t.Helper()
		argv := []string{"curl", "-sS", "-m", "10", "--cacert", cert, "-X", method, "-w", "\n%{http_code}"}
		if auth != "" {
			argv = append(argv, "-H", "Authorization: Bearer "+auth)
		}
		if body != "" {
			argv = append(argv, "--json", body)
		}
		out := run(t, topo.DirectorNS, 15*time.Second, append(argv, "https://"+apiAddr+path)...)
		i := strings.LastIndexByte(out, '\n')
		code, err := strconv.Atoi(out[i+1:])
		if err != nil {
			t.Fatalf("curl %s %s: %q", method, path, out)
		}
		return code, out[:i]
	}
	ipvsadm := func(args ...string) {
		t.Helper()
		b, _ := json.Marshal(map[string][]string{"args": args})
		code, out := api(token, "POST", "/v1/ipvsadm", string(b))
		var res struct {
			Stdout, Stderr string
			Code           int
		}
		if code != 200 || json.Unmarshal([]byte(out), &res) != nil || res.Code != 0 {
			t.Fatalf("POST /v1/ipvsadm %q: %d %s", args, code, out)
		}
	}
	vip := e.VIP.String()
	ipvsadm("-A", "-t", vip+":80", "-s", "rr")
	for _, r := range e.Reals {
		ipvsadm("-a", "-t", vip+":80", "-r", r.RIP.String()+":80", "-m")
	}
	fetch := func(n int) map[string]int {
		t.Helper()
		seen := map[string]int{}
		for i := 0; i < n; i++ {
			out := run(t, e.ClientNS, 10*time.Second, "curl", "-sS", "-m", "5", "http://"+vip+"/")
			seen[strings.TrimSpace(out)]++
		}
		return seen
	}
	if seen := fetch(4); seen["served by rs1"] != 2 || seen["served by rs2"] != 2 {
		t.Fatalf("answers through the VIP: %v", seen)
	}

	svc := "/v1/services/tcp/" + vip + "/80"
	code, out := api(token, "GET", "/v1/services", "")
	var list struct {
		Services []struct {
			Path  string
			Stats struct{ Conns uint64 }
			Dests []struct {
				Path   string
				Addr   string
				Weight int
				Stats  struct{ Conns uint64 }
			}
		}
	}
	if code != 200 || json.Unmarshal([]byte(out), &list) != nil || len(list.Services) != 1 {
		t.Fatalf("GET /v1/services: %d %s", code, out)
	}
	s := list.Services[0]
	if s.Path != svc || s.Stats.Conns != 4 || len(s.Dests) != 2 {
		t.Fatalf("service %+v", s)
	}
	for _, d := range s.Dests {
		if d.Stats.Conns != 2 || d.Weight != 1 {
			t.Errorf("dest %+v", d)
		}
	}

	// Quiesce rs1: new connections all go to rs2.
	rs1 := svc + "/dests/" + e.Reals[0].RIP.String() + "/80"
	if code, out := api(token, "PUT", rs1, `{"weight": 0}`); code != 200 || !strings.Contains(out, `"weight": 0`) {
		t.Fatalf("PUT weight 0: %d %s", code, out)
	}
	if seen := fetch(3); seen["served by rs2"] != 3 {
		t.Fatalf("answers with rs1 quiesced: %v", seen)
	}
	// Refused requests change nothing.
	for _, tc := range []struct {
		auth, method, path, body string
		code                     int
	}{
		{"", "DELETE", rs1, "", 401},
		{token + "x", "DELETE", rs1, "", 401},
		{token, "PUT", rs1, `{"weight": 0, "method": "dr"}`, 400},
		{token, "POST", "/v1/ipvsadm", `{"args": "-C"}`, 400},
		{token, "DELETE", svc, "", 405},
	} {
		if code, out := api(tc.auth, tc.method, tc.path, tc.body); code != tc.code {
			t.Errorf("%s %s %s: %d %s, want %d", tc.method, tc.path, tc.body, code, out, tc.code)
		}
	}
	// Plain HTTP on the API's port is never served: Go's TLS server
	// answers what looks like HTTP (POST) with 400 and drops the rest.
	for _, tc := range []struct{ method, path, body, want string }{
		{"POST", "/v1/ipvsadm", `{"args": ["-C"]}`, "400"},
		{"DELETE", rs1, "", "000"},
	} {
		argv := []string{"curl", "-sS", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer " + token, "-X", tc.method}
		if tc.body != "" {
			argv = append(argv, "--json", tc.body)
		}
		out, _ := run2(topo.DirectorNS, append(argv, "http://"+apiAddr+tc.path)...)
		if !strings.HasPrefix(strings.TrimSpace(out), tc.want) && !strings.HasSuffix(strings.TrimSpace(out), tc.want) {
			t.Errorf("plain HTTP %s %s: %q, want %s", tc.method, tc.path, out, tc.want)
		}
	}
	if l := e.mustIpvsadm(t, "-L", "-n"); strings.Count(l, "->") != 3 { // header + 2 dests
		t.Fatalf("a refused request changed the table:\n%s", l)
	}

	if code, out := api(token, "DELETE", rs1, ""); code != 204 || out != "" {
		t.Fatalf("DELETE: %d %q", code, out)
	}
	if code, out := api(token, "GET", rs1, ""); code != 404 || !strings.Contains(out, "No such destination") {
		t.Fatalf("GET after DELETE: %d %s", code, out)
	}
	if l := e.mustIpvsadm(t, "-L", "-n"); strings.Contains(l, e.Reals[0].RIP.String()) {
		t.Fatalf("rs1 still listed:\n%s", l)
	}

	e.stopDirector(t)
	if out, err := run2(topo.DirectorNS, "curl", "-sS", "-m", "3", "--cacert", cert, "https://"+apiAddr+"/v1/services"); err == nil {
		t.Fatalf("API still answers after the daemon stopped: %s", out)
	}
	if log, _ := os.ReadFile(e.logFile); !strings.Contains(string(log), "remote API on https://"+apiAddr) {
		t.Errorf("the log does not announce the API:\n%s", log)
	}
}
