package nsutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// sysctlPath maps a sysctl key to its /proc/sys file. Keys use dots
// ("net.ipv4.ip_forward") or slashes ("net/ipv4/conf/eth0.100/rp_filter",
// needed when a component itself contains a dot).
func sysctlPath(key string) (string, error) {
	k := key
	if !strings.Contains(k, "/") {
		k = strings.ReplaceAll(k, ".", "/")
	}
	k = strings.Trim(k, "/")
	for _, part := range strings.Split(k, "/") {
		if part == "" || part == "." || part == ".." {
			return "", fmt.Errorf("nsutil: invalid sysctl key %q", key)
		}
	}
	return filepath.Join("/proc/sys", k), nil
}

// Sysctl reads a sysctl inside the namespace. /proc/sys/net follows the
// network namespace of the thread that opens the file, so the read is done
// from a thread switched into ns.
func Sysctl(ns, key string) (string, error) {
	path, err := sysctlPath(key)
	if err != nil {
		return "", err
	}
	var val string
	err = Do(ns, func() error {
		b, err := os.ReadFile(path)
		val = strings.TrimSpace(string(b))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("nsutil: sysctl %s in %q: %w", key, ns, err)
	}
	return val, nil
}

// SetSysctl writes value to a sysctl inside the namespace and returns the
// previous value.
func SetSysctl(ns, key, value string) (old string, err error) {
	path, err := sysctlPath(key)
	if err != nil {
		return "", err
	}
	err = Do(ns, func() error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		old = strings.TrimSpace(string(b))
		return os.WriteFile(path, []byte(value+"\n"), 0o644)
	})
	if err != nil {
		return old, fmt.Errorf("nsutil: sysctl %s=%s in %q: %w", key, value, ns, err)
	}
	return old, nil
}
