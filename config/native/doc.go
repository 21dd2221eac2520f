// Package native reads gdirector's own configuration format, a YAML
// document that says everything a config.Config holds: virtual services
// (by protocol, VIP and port, or by firewall mark) with their scheduler,
// persistence and FullNAT local addresses; their real servers with
// forwarding method, weight, thresholds and reactions to failure; health
// checks of every kind; sorry server and quorum; firewall-mark rules and
// connection timeouts. docs/config.md describes every key.
//
// Decoding is strict: an unknown or repeated key, a value of the wrong
// type or out of range, or a key that does not apply to a check's type is
// an error naming the file and line ("gdirector.yaml:12: unknown key
// \"wieght\" in real server (did you mean \"weight\"?)"). Anchors, aliases
// and merge keys ("<<: *defaults") may share settings between services;
// a document that expands too far through aliases is refused.
//
// Durations are Go durations ("5s", "1m30s", "250ms") or whole seconds
// ("5"). Settings the kernel keeps in seconds (persistence, timeouts)
// must be whole seconds.
//
// Parse checks what it can see in the file alone (syntax, types, ranges,
// repeated services and real servers, scheduler names and flags); what
// needs a Manager (ipvsadm's own rules) is checked when the Config is
// applied or validated (config.Validate), with errors naming the same
// lines.
package native
