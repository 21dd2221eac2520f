// Package sysctl reads and writes kernel settings under /proc/sys for the
// current network namespace, remembering old values so a daemon can put
// back exactly what it changed.
package sysctl

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Root is where sysctl files live; tests point it elsewhere.
var Root = "/proc/sys"

func path(key string) string {
	return filepath.Join(Root, strings.ReplaceAll(key, ".", "/"))
}

// Get returns the trimmed value of key (dotted form, e.g. net.ipv4.ip_forward).
func Get(key string) (string, error) {
	b, err := os.ReadFile(path(key))
	if err != nil {
		return "", fmt.Errorf("sysctl %s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Set writes value to key.
func Set(key, value string) error {
	if err := os.WriteFile(path(key), []byte(value+"\n"), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// Saved records changes for Restore.
type Saved struct {
	keys []string
	old  []string
}

// Set changes key to value unless it already has it, remembering the old
// value. A key that does not exist (IPv6 disabled, say) is skipped when
// optional is true.
func (s *Saved) Set(key, value string, optional bool) error {
	old, err := Get(key)
	if err != nil {
		if optional && os.IsNotExist(unwrap(err)) {
			return nil
		}
		return err
	}
	if old == value {
		return nil
	}
	if err := Set(key, value); err != nil {
		return err
	}
	s.keys = append(s.keys, key)
	s.old = append(s.old, old)
	return nil
}

// Restore puts back every changed value, newest first, and returns the
// first error.
func (s *Saved) Restore() error {
	var first error
	for i := len(s.keys) - 1; i >= 0; i-- {
		if err := Set(s.keys[i], s.old[i]); err != nil && first == nil {
			first = err
		}
	}
	s.keys, s.old = nil, nil
	return first
}

func unwrap(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}
