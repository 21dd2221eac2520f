package nsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Dir is where named network namespaces are bind-mounted (iproute2's
// convention).
const Dir = "/run/netns"

// ErrInvalidName is returned for a namespace name that cannot be a file name
// in Dir.
var ErrInvalidName = errors.New("nsutil: invalid namespace name")

// Path returns the bind-mount path of the named namespace.
func Path(name string) string { return filepath.Join(Dir, name) }

// ValidName reports whether name can be used as a namespace name: non-empty,
// at most 255 bytes, no '/', no NUL, and neither "." nor "..".
func ValidName(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > 255 {
		return false
	}
	return !strings.ContainsAny(name, "/\x00")
}

func checkName(name string) error {
	if !ValidName(name) {
		return fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	return nil
}

// Exists reports whether a namespace called name is mounted in Dir.
func Exists(name string) bool {
	if !ValidName(name) {
		return false
	}
	return isNsfs(Path(name))
}

// isNsfs reports whether path is an nsfs inode (a live namespace bind mount).
func isNsfs(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// List returns the names of all namespaces in Dir, sorted.
func List() ([]string, error) {
	ents, err := os.ReadDir(Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

var dirOnce struct {
	sync.Mutex
	done bool
}

// prepareDir creates Dir and makes it a shared mount point, the way
// `ip netns add` does, so namespace mounts propagate into the mount
// namespaces of `ip netns exec` children and so do their unmounts.
func prepareDir() error {
	dirOnce.Lock()
	defer dirOnce.Unlock()
	if dirOnce.done {
		return nil
	}
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return err
	}
	err := unix.Mount("", Dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) {
		// Not a mount point yet: bind it onto itself, then share it.
		if err = unix.Mount(Dir, Dir, "none", unix.MS_BIND|unix.MS_REC, ""); err == nil {
			err = unix.Mount("", Dir, "none", unix.MS_SHARED|unix.MS_REC, "")
		}
	}
	if err != nil {
		return fmt.Errorf("nsutil: prepare %s: %w", Dir, err)
	}
	dirOnce.done = true
	return nil
}

// Create creates a new, empty network namespace called name and mounts it on
// Path(name). The caller's thread never changes namespace. It fails with an
// error wrapping fs.ErrExist if the name is taken.
func Create(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := prepareDir(); err != nil {
		return err
	}
	path := Path(name)
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("nsutil: create namespace %q: %w", name, fs.ErrExist)
	}
	err := onFreshThread(func() error {
		h, err := netns.NewNamed(name)
		if err == nil {
			h.Close()
		}
		return err
	})
	if err != nil {
		// NewNamed creates the file before mounting on it; do not leave an
		// empty placeholder behind if the mount failed. O_EXCL guarantees
		// the file is ours when the error came after its creation.
		if !errors.Is(err, fs.ErrExist) && !isNsfs(path) {
			_ = os.Remove(path)
		}
		return fmt.Errorf("nsutil: create namespace %q: %w", name, err)
	}
	return nil
}

// Delete unmounts and removes the named namespace. The namespace itself lives
// on while processes or open sockets still use it. It returns an error
// wrapping fs.ErrNotExist if there is no such namespace.
func Delete(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	path := Path(name)
	if _, err := os.Lstat(path); err != nil {
		return fmt.Errorf("nsutil: delete namespace %q: %w", name, err)
	}
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) { // EINVAL: not mounted (stale file)
		return fmt.Errorf("nsutil: delete namespace %q: unmount: %w", name, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("nsutil: delete namespace %q: %w", name, err)
	}
	return nil
}

// onFreshThread runs fn on a new goroutine locked to its thread and restores
// the thread's network namespace afterwards (fn may change it). If the
// namespace cannot be restored the thread stays locked, so the runtime
// terminates it when the goroutine returns.
func onFreshThread(fn func() error) error {
	type result struct {
		err      error
		panicked bool
		pval     any
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("nsutil: current namespace: %w", err)}
			return
		}
		defer orig.Close()
		var res result
		func() {
			defer func() {
				if p := recover(); p != nil {
					res.panicked, res.pval = true, p
				}
			}()
			res.err = fn()
		}()
		if err := netns.Set(orig); err != nil {
			// Keep the thread locked: it dies with this goroutine.
			res.err = errors.Join(res.err, fmt.Errorf("nsutil: restore namespace: %w", err))
			ch <- res
			return
		}
		runtime.UnlockOSThread()
		ch <- res
	}()
	res := <-ch
	if res.panicked {
		panic(res.pval)
	}
	return res.err
}

// Do runs fn on an OS thread switched into the named namespace and returns
// its error. The calling goroutine's thread is never switched. Sockets fn
// creates stay in the namespace; goroutines fn starts do not run in it. A
// panic in fn is re-raised in the caller after the thread is restored.
func Do(ns string, fn func() error) error {
	if err := checkName(ns); err != nil {
		return err
	}
	target, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("nsutil: open namespace %q: %w", ns, err)
	}
	defer target.Close()
	return onFreshThread(func() error {
		if err := netns.Set(target); err != nil {
			return fmt.Errorf("nsutil: enter namespace %q: %w", ns, err)
		}
		return fn()
	})
}

// nsID identifies a namespace inode (device and inode number of nsfs).
type nsID struct{ dev, ino uint64 }

func statNS(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, err
	}
	return nsID{dev: st.Dev, ino: st.Ino}, nil
}

// Inode returns the inode number of the named namespace, the number shown
// by `readlink /proc/PID/ns/net` as net:[INODE].
func Inode(ns string) (uint64, error) {
	if err := checkName(ns); err != nil {
		return 0, err
	}
	id, err := statNS(Path(ns))
	return id.ino, err
}
