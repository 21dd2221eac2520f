package nsutil

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Cleanup removes every named namespace whose name starts with prefix: it
// stops the processes this program started in them (tracked by pid), kills
// any other process still living in them (e.g. servers left by a crashed
// run, found through /proc/PID/ns/net), then deletes them. Nothing whose
// name does not start with prefix is touched. End the prefix with a
// separator ("gdl1234-") so that it cannot match another run's names.
// An empty or invalid prefix is refused.
func Cleanup(prefix string) error {
	if prefix == "" || strings.ContainsAny(prefix, "/\x00") {
		return fmt.Errorf("nsutil: cleanup: refusing prefix %q", prefix)
	}
	names, err := List()
	if err != nil {
		return fmt.Errorf("nsutil: cleanup: %w", err)
	}
	var victims []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			victims = append(victims, n)
		}
	}

	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range tracked(func(p *Proc) bool { return strings.HasPrefix(p.NS, prefix) }) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Stop(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	if len(victims) > 0 {
		if err := killResidents(victims); err != nil {
			errs = append(errs, err)
		}
	}
	for _, n := range victims {
		if err := Delete(n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// killResidents SIGKILLs every process whose network namespace is one of
// the named ones, never this process and never a process in this process's
// own namespace, and waits (bounded) for them to go.
func killResidents(names []string) error {
	ids := make(map[nsID]bool)
	self, err := statNS("/proc/self/ns/net")
	if err != nil {
		return fmt.Errorf("nsutil: cleanup: %w", err)
	}
	for _, n := range names {
		if id, err := statNS(Path(n)); err == nil && id != self {
			ids[id] = true
		}
	}
	if len(ids) == 0 {
		return nil
	}
	find := func() []int {
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return nil
		}
		var pids []int
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid <= 1 || pid == os.Getpid() {
				continue
			}
			id, err := statNS("/proc/" + e.Name() + "/ns/net")
			if err == nil && ids[id] && !isZombie(pid) {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	var errs []error
	deadline := time.Now().Add(3 * time.Second)
	for attempt := 0; attempt < 60; attempt++ {
		pids := find()
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nsutil: cleanup: processes still alive: %v", pids)
		}
		for _, pid := range pids {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				errs = append(errs, fmt.Errorf("nsutil: cleanup: kill %d: %w", pid, err))
			}
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// isZombie reports whether pid has exited but not been reaped.
func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // gone
	}
	// The state follows the parenthesised command name, which may contain
	// spaces or parentheses: look after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	return s[i+2] == 'Z' || s[i+2] == 'X'
}
