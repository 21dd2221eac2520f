package realserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// DefaultStateDir is where the state files live unless an option says
// otherwise.
const DefaultStateDir = "/run/gdirector-realserver"

// Modes, also the base names of the state files.
const (
	ModeDR  = "dr"
	ModeTun = "tun"
)

// ErrNoState is returned by Undo when there is no state file: nothing was
// set up (or it was undone already).
var ErrNoState = errors.New("realserver: no state file, nothing to undo")

// sysctlRoot is the /proc/sys directory; unit tests point it elsewhere.
var sysctlRoot = "/proc/sys"

// sysctlFile maps a key in slash form ("net/ipv4/conf/eth0.100/rp_filter",
// which allows dots in interface names) to its file.
func sysctlFile(key string) (string, error) {
	k := strings.Trim(key, "/")
	for _, part := range strings.Split(k, "/") {
		if part == "" || part == "." || part == ".." {
			return "", fmt.Errorf("realserver: invalid sysctl key %q", key)
		}
	}
	return filepath.Join(sysctlRoot, k), nil
}

func getSysctl(key string) (string, error) {
	p, err := sysctlFile(key)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("realserver: sysctl %s: %w", dotted(key), err)
	}
	return strings.TrimSpace(string(b)), nil
}

func setSysctl(key, value string) error {
	p, err := sysctlFile(key)
	if err != nil {
		return err
	}
	// O_WRONLY without O_CREATE: a missing key is an error, not a new file.
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err == nil {
		_, err = f.WriteString(value + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("realserver: sysctl %s=%s: %w", dotted(key), value, err)
	}
	return nil
}

// dotted renders a slash key the way sysctl(8) prints it.
func dotted(key string) string { return strings.ReplaceAll(strings.Trim(key, "/"), "/", ".") }

// SysctlChange is one sysctl the setup changed.
type SysctlChange struct {
	Key string `json:"key"` // slash form under /proc/sys
	Old string `json:"old"` // value before the first setup
	New string `json:"new"` // value the setup wants
}

// AddedAddr is an address the setup added (and Undo removes).
type AddedAddr struct {
	Dev    string       `json:"dev"`
	Prefix netip.Prefix `json:"prefix"`
}

// State is what a setup changed, as kept in its state file.
type State struct {
	Mode    string         `json:"mode"`
	Dev     string         `json:"dev"`
	VIPs    []netip.Addr   `json:"vips"`
	Added   []AddedAddr    `json:"added,omitempty"`
	Sysctls []SysctlChange `json:"sysctls,omitempty"`

	// Log describes what the last call changed, for people ("added
	// 192.0.2.10/32 on lo"); empty when it changed nothing. Not stored.
	Log []string `json:"-"`
	// Notes are remarks and warnings of the last call that changed
	// nothing ("192.0.2.10 already on lo: left alone"). Not stored.
	Notes []string `json:"-"`

	path string
}

// StatePath returns the state file of mode under dir ("" means
// DefaultStateDir).
func StatePath(dir, mode string) string {
	if dir == "" {
		dir = DefaultStateDir
	}
	return filepath.Join(dir, mode+".json")
}

// LoadState reads the state file of mode in dir. It returns an error
// wrapping ErrNoState if there is none.
func LoadState(dir, mode string) (*State, error) {
	p := StatePath(dir, mode)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (%s)", ErrNoState, p)
	}
	if err != nil {
		return nil, fmt.Errorf("realserver: read state: %w", err)
	}
	s := &State{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("realserver: state file %s: %w", p, err)
	}
	if s.Mode != mode {
		return nil, fmt.Errorf("realserver: state file %s is for mode %q, not %q", p, s.Mode, mode)
	}
	s.path = p
	return s, nil
}

// Path returns the state file this state is kept in.
func (s *State) Path() string { return s.path }

// empty reports whether the state records nothing to undo.
func (s *State) empty() bool { return len(s.Added) == 0 && len(s.Sysctls) == 0 }

// save writes the state atomically (temporary file and rename), or
// removes the file if there is nothing to undo.
func (s *State) save() error {
	if s.empty() {
		return s.remove()
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("realserver: state dir: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), "."+filepath.Base(s.path)+".*")
	if err != nil {
		return fmt.Errorf("realserver: write state: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("realserver: write state: %w", err)
	}
	return nil
}

func (s *State) remove() error {
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("realserver: remove state: %w", err)
	}
	return nil
}

// sysctl returns the recorded change of key, or nil.
func (s *State) sysctl(key string) *SysctlChange {
	for i := range s.Sysctls {
		if s.Sysctls[i].Key == key {
			return &s.Sysctls[i]
		}
	}
	return nil
}

// added reports whether the state records adding p on dev.
func (s *State) added(dev string, p netip.Prefix) bool {
	for _, a := range s.Added {
		if a.Dev == dev && a.Prefix == p {
			return true
		}
	}
	return false
}

// ensureSysctl sets key to value. The first change of a key is recorded
// with its old value; a key already recorded keeps its original old value
// (and is set again if something changed it since). A missing key is an
// error unless optional.
func (s *State) ensureSysctl(key, value string, optional bool) error {
	cur, err := getSysctl(key)
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	rec := s.sysctl(key)
	if rec != nil {
		rec.New = value
	}
	if cur == value {
		return nil
	}
	if err := setSysctl(key, value); err != nil {
		return err
	}
	if rec == nil {
		s.Sysctls = append(s.Sysctls, SysctlChange{Key: key, Old: cur, New: value})
	}
	s.Log = append(s.Log, fmt.Sprintf("set %s %s -> %s", dotted(key), cur, value))
	return nil
}

// restoreSysctls puts back the recorded sysctls from index from on, newest
// first, and drops them from the state. A key that no longer exists (its
// interface is gone) is skipped.
func (s *State) restoreSysctls(from int) error {
	var errs []error
	for i := len(s.Sysctls) - 1; i >= from; i-- {
		c := s.Sysctls[i]
		err := setSysctl(c.Key, c.Old)
		switch {
		case err == nil:
			s.Log = append(s.Log, fmt.Sprintf("restored %s = %s", dotted(c.Key), c.Old))
		case errors.Is(err, fs.ErrNotExist):
			s.Notes = append(s.Notes, fmt.Sprintf("skipped %s: no longer exists", dotted(c.Key)))
		default:
			errs = append(errs, err)
			continue // keep it recorded: a later undo can retry
		}
		s.Sysctls = append(s.Sysctls[:i], s.Sysctls[i+1:]...)
	}
	return errors.Join(errs...)
}
