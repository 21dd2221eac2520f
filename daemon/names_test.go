package daemon

import (
	"context"
	"testing"
	"time"
)

// TestNameCache: a lookup runs once per key within the TTL (failures
// included), and a lookup that would hang is cut at nameTimeout.
func TestNameCache(t *testing.T) {
	c := &nameCache{m: map[string]cached{}}
	calls := 0
	look := func(context.Context) string { calls++; return "rs1.example.test" }
	for i := 0; i < 3; i++ {
		if got := c.get("a:203.0.113.11", look); got != "rs1.example.test" {
			t.Fatalf("got %q", got)
		}
	}
	if calls != 1 {
		t.Fatalf("%d lookups for one key, want 1", calls)
	}
	start := time.Now()
	got := c.get("a:203.0.113.12", func(ctx context.Context) string {
		<-ctx.Done() // an unreachable name server
		return ""
	})
	if got != "" {
		t.Fatalf("got %q", got)
	}
	if waited := time.Since(start); waited > 10*nameTimeout {
		t.Fatalf("a hanging lookup took %v", waited)
	}
	if got := c.get("a:203.0.113.12", look); got != "" {
		t.Fatalf("the failed lookup was not remembered: %q", got)
	}
}

// TestSystemNames: the services database names well-known ports whatever
// this host's /etc/services holds (the built-in table otherwise).
func TestSystemNames(t *testing.T) {
	n := systemNames()
	if n.HostName == nil || n.LookupHost == nil {
		t.Fatal("resolver hooks missing")
	}
	if n.Services != nil {
		if p, ok := n.Services.Port("http", "tcp"); !ok || p != 80 {
			t.Fatalf("/etc/services: http/tcp = %d, %v", p, ok)
		}
	}
}
