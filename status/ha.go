package status

// HAReporter reports the director's high availability: its VRRP instances
// and connection sync daemons (the daemon implements it). HAReport
// returns nil while no VRRP instance runs, and the document then has no
// ha section. It must be safe for concurrent use.
type HAReporter interface {
	HAReport() *HA
}

// HA is the high-availability section of the document.
type HA struct {
	// Instances are the running VRRP instances, by name.
	Instances []HAInstance `json:"instances"`
	// Sync are the running connection sync daemons, master first; empty
	// when none runs.
	Sync []SyncDaemon `json:"sync"`
}

// HAInstance is one VRRP instance (keepalived's vrrp_instance).
type HAInstance struct {
	Name      string `json:"name"`
	Interface string `json:"interface"`
	VRID      uint8  `json:"vrid"`
	// State is "INIT", "BACKUP", "MASTER" or "FAULT".
	State string `json:"state"`
	// Priority is the effective priority: the configured one moved by
	// the weights of the tracked interfaces and scripts.
	Priority uint8 `json:"priority"`
	// Since is when the instance entered State (RFC 3339, UTC).
	Since string `json:"since"`
	// Group and GroupState are its vrrp_sync_group and the group's state;
	// absent for an instance in no group.
	Group      string `json:"group,omitempty"`
	GroupState string `json:"group_state,omitempty"`
	// Scripts are its tracked scripts (keepalived track_script); absent
	// when it tracks none.
	Scripts []HAScript `json:"scripts,omitempty"`
}

// SyncDaemon is a running connection sync daemon (lvs_sync_daemon,
// ipvsadm --start-daemon).
type SyncDaemon struct {
	// State is "master" (sends the connections) or "backup" (receives
	// them).
	State     string `json:"state"`
	SyncID    uint8  `json:"syncid"`
	Interface string `json:"interface"`
	// Messages and Conns are the datagrams and connection records sent
	// (master) or accepted and applied (backup).
	Messages uint64 `json:"messages"`
	Conns    uint64 `json:"conns"`
	// Rejects count what the daemon refused or lost, by reason: for a
	// backup the datagrams and records refused (bad_source, bad_syncid,
	// malformed, ...), for a master send_errors and queue_drops.
	Rejects map[string]uint64 `json:"rejects"`
}

// HAScript is a script an instance tracks.
type HAScript struct {
	Name string `json:"name"`
	// Status is "good", "failed" or "init" (no run has ended yet).
	Status string `json:"status"`
	// Weight is the track's weight (0: FAULT while failed).
	Weight int `json:"weight"`
}
