package forward

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gdirector/gdirector/internal/nsutil"
)

// plumbing applies changes to a lab (routes, rules, addresses, sysctls,
// rulesets, processes) and remembers how to take each back, so that a
// variant leaves the lab as it found it for the next one.
type plumbing struct {
	undo []func() error
}

// run runs argv in ns; undo, when not nil, is run in ns by Undo.
func (p *plumbing) run(ns string, argv, undo []string) error {
	if out, err := nsutil.Run(ns, argv...); err != nil {
		return fmt.Errorf("%s in %s: %v: %s", strings.Join(argv, " "), ns, err, strings.TrimSpace(out))
	}
	if undo != nil {
		p.undo = append(p.undo, func() error {
			if out, err := nsutil.Run(ns, undo...); err != nil {
				return fmt.Errorf("%s in %s: %v: %s", strings.Join(undo, " "), ns, err, strings.TrimSpace(out))
			}
			return nil
		})
	}
	return nil
}

// ip runs `ip ARGS` in ns, undone by `ip UNDO`.
func (p *plumbing) ip(ns string, args, undo []string) error {
	var u []string
	if undo != nil {
		u = append([]string{"ip"}, undo...)
	}
	return p.run(ns, append([]string{"ip"}, args...), u)
}

// sysctl sets key in ns; Undo restores the previous value.
func (p *plumbing) sysctl(ns, key, value string) error {
	old, err := nsutil.SetSysctl(ns, key, value)
	if err != nil {
		return err
	}
	p.undo = append(p.undo, func() error {
		_, err := nsutil.SetSysctl(ns, key, old)
		return err
	})
	return nil
}

// then registers an undo step.
func (p *plumbing) then(f func() error) { p.undo = append(p.undo, f) }

// Undo takes every change back, newest first, and reports all failures.
func (p *plumbing) Undo() error {
	var errs []error
	for i := len(p.undo) - 1; i >= 0; i-- {
		if err := p.undo[i](); err != nil {
			errs = append(errs, err)
		}
	}
	p.undo = nil
	return errors.Join(errs...)
}
