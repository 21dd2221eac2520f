package ipvssync

// Resync has a running master send every connection worth syncing again
// now (Sender.Refresh) instead of at its next periodic refresh; it reports
// whether a master is running. A director that hands over the master role
// (VRRP fail-back) calls it before stopping its master, so that the node
// taking over, whose backup daemon may have been started after the
// established connections were last sent, learns all of them at once.
func (d *Daemons) Resync() bool {
	d.mu.Lock()
	dm := d.running[Master]
	d.mu.Unlock()
	if dm == nil || dm.snd == nil {
		return false
	}
	dm.snd.Refresh()
	return true
}
