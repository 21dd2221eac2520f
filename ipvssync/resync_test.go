package ipvssync

import (
	"net"
	"net/netip"
	"testing"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/vs"
)

// TestDaemonsResync: a connection whose record was lost reaches the
// backup when the master is asked to resync (what a director does when
// it becomes master or steps down); without a master Resync does nothing.
func TestDaemonsResync(t *testing.T) {
	l, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(l.LocalAddr().(*net.UDPAddr).Port)
	l.Close()
	m, b := newDirector(), newDirector()
	md := &Daemons{Table: &m.tbl, Conns: m.conns, Clock: m.clk}
	bd := &Daemons{Table: &b.tbl, Conns: b.conns, Clock: b.clk}
	defer md.Close()
	defer bd.Close()
	if md.Resync() {
		t.Fatal("Resync without a master reported one")
	}
	peer := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	if err := bd.StartDaemon(DaemonConfig{State: Backup, SyncID: 9, Port: port, Peers: peer}); err != nil {
		t.Fatal(err)
	}
	if err := md.StartDaemon(DaemonConfig{State: Master, SyncID: 9, Port: port, Peers: peer}); err != nil {
		t.Fatal(err)
	}
	c := tcpConn(t, m, "198.51.100.7", 40000, nil)
	c.Update(m.clk.Now(), conntrack.In, 0x02)
	c.Update(m.clk.Now(), conntrack.In, 0x10) // ESTABLISHED
	// Lose what the packet path queued: only a resync can send it now.
	md.mu.Lock()
	md.running[Master].snd.cfg.Queue.Drain(func(*conntrack.Conn) {})
	md.mu.Unlock()
	key := conntrack.Key{Proto: vs.TCP, Src: c.CAddr, Dst: c.VAddr, SPort: 40000, DPort: 80}
	if b.conns.LookupIn(&key) != nil {
		t.Fatal("backup has the connection before the resync")
	}
	if !md.Resync() {
		t.Fatal("Resync found no master")
	}
	waitFor(t, "the resynced connection", func() bool {
		bc := b.conns.LookupIn(&key)
		return bc != nil && bc.State() == conntrack.StateEstablished && bc.Dest == b.dest
	})
}
