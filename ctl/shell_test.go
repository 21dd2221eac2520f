package ctl_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// shell runs a shell pipeline with $SOCK set to the socket's path.
func shell(t *testing.T, sock, script string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = append(os.Environ(), "SOCK="+sock)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return string(out)
}

// TestShellClient talks to the control socket as the package doc shows: a
// JSON line through socat, no gdirector binary involved.
func TestShellClient(t *testing.T) {
	if _, err := exec.LookPath("socat"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("socat not on PATH")
		}
		t.Skip("socat not on PATH")
	}
	dir := t.TempDir()
	sock, stop, err := serveIpvsadm(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	answer := func(out string) (resp struct {
		Stdout, Stderr string
		Code           int
	}) {
		t.Helper()
		if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
			t.Fatalf("answer is not one line: %q", out)
		}
		if err := json.Unmarshal([]byte(out), &resp); err != nil {
			t.Fatalf("answer %q: %v", out, err)
		}
		return resp
	}

	out := shell(t, sock, `printf '%s\n' '{"argv":["-A","-t","192.0.2.10:80","-s","rr"]}' | socat -t 10 - UNIX-CONNECT:"$SOCK"`)
	if r := answer(out); r.Code != 0 || r.Stderr != "" {
		t.Fatalf("-A: %q", out)
	}
	// ipvsadm -R with the rules as input; the request has no newline at
	// the end, as "printf %s" leaves it.
	rules := "-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m\n-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 3\n"
	req, _ := json.Marshal(map[string]any{"argv": []string{"-R"}, "input": rules})
	reqFile := filepath.Join(dir, "req.json")
	if err := os.WriteFile(reqFile, req, 0o600); err != nil {
		t.Fatal(err)
	}
	out = shell(t, sock, `socat -t 10 - UNIX-CONNECT:"$SOCK" < `+reqFile)
	if r := answer(out); r.Code != 0 || r.Stderr != "" {
		t.Fatalf("-R: %q", out)
	}
	// Two requests on one connection, two answers in order.
	out = shell(t, sock, `printf '%s\n%s\n' '{"argv":["-S","-n"]}' '{"argv":["-d","-t","192.0.2.10:80","-r","203.0.113.99:80"]}' | socat -t 10 - UNIX-CONNECT:"$SOCK"`)
	lines := strings.SplitAfter(out, "\n")
	if len(lines) != 3 || lines[2] != "" {
		t.Fatalf("two requests: %q", out)
	}
	want := "-A -t 192.0.2.10:80 -s rr\n" +
		"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m -w 1\n" +
		"-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 3\n"
	if r := answer(lines[0]); r.Code != 0 || r.Stdout != want {
		t.Fatalf("-S: %+v, want stdout %q", r, want)
	}
	if r := answer(lines[1]); r.Code != 255 || r.Stderr != "No such destination\n" {
		t.Fatalf("-d of a missing dest: %+v", r)
	}
	// A request with an unknown field is refused and changes nothing.
	out = shell(t, sock, `printf '%s\n' '{"argv":["-C"],"force":true}' | socat -t 10 - UNIX-CONNECT:"$SOCK"`)
	if r := answer(out); r.Code != 2 || !strings.Contains(r.Stderr, `unknown field "force"`) {
		t.Fatalf("unknown field: %q", out)
	}
	out = shell(t, sock, `printf '%s\n' '{"argv":["-S","-n"]}' | socat -t 10 - UNIX-CONNECT:"$SOCK"`)
	if r := answer(out); r.Stdout != want {
		t.Fatalf("table changed by a refused request: %q", out)
	}

	// The package doc's and README's pipelines, with jq taking the
	// answer apart and building the -R request from a file of rules.
	if _, err := exec.LookPath("jq"); err != nil {
		t.Log("jq not on PATH: the jq pipelines are not tried")
		return
	}
	if out := shell(t, sock, `echo '{"argv": ["-S", "-n"]}' | socat -t 30 - UNIX-CONNECT:"$SOCK" | jq -r .stdout`); out != want+"\n" {
		t.Fatalf("jq -r .stdout: %q", out)
	}
	rulesFile := filepath.Join(dir, "rules.txt")
	if err := os.WriteFile(rulesFile, []byte("-a -t 192.0.2.10:80 -r 203.0.113.13:80 -m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out = shell(t, sock, `jq -cn --rawfile rules `+rulesFile+` '{argv: ["-R"], input: $rules}' | socat -t 30 - UNIX-CONNECT:"$SOCK" | jq -j .stderr`)
	if out != "" {
		t.Fatalf("-R through jq: stderr %q", out)
	}
	out = shell(t, sock, `echo '{"argv": ["-S", "-n"]}' | socat -t 30 - UNIX-CONNECT:"$SOCK" | jq -r .stdout`)
	if !strings.Contains(out, "-a -t 192.0.2.10:80 -r 203.0.113.13:80 -m -w 1\n") {
		t.Fatalf("after -R through jq:\n%s", out)
	}
}
