package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gdirector/gdirector/httpapi"
)

// TestRunRefusesBadAPI: a half-configured remote API, or one whose token
// file is readable by others, stops the daemon before it touches anything
// (the interface, which does not exist, is never opened).
func TestRunRefusesBadAPI(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("0123456789abcdef0123456789abcdef\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(token, 0o644)
	for _, tc := range []struct {
		api  httpapi.Config
		want string
	}{
		{httpapi.Config{Addr: "127.0.0.1:0"}, "missing --api-cert FILE, --api-key FILE, --api-token-file FILE"},
		{httpapi.Config{TokenFile: token}, "missing --api ADDR"},
		{httpapi.Config{Addr: "127.0.0.1:0", CertFile: "c", KeyFile: "k", TokenFile: token}, "permissions 0644 for token file"},
	} {
		err := Run(context.Background(), Options{Ifaces: []string{"gdt-no-such-if"}, CtlPath: filepath.Join(dir, "s"), API: tc.api})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.api, err, tc.want)
		}
	}
}
