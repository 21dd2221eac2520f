package ipvsadm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gdirector/gdirector/ctl"
)

// Rules: ipvsadm -R input and configuration files.
//
// ipvsadm -R reads one command line per line of standard input (what -S
// writes): words separated by blanks (space, tab, CR), the word "ipvsadm"
// dropped wherever it appears, lines without words skipped. Like the
// comment of ipvsadm's config_stream_read says (its code does not manage
// it), everything from a '#' to the end of the line is a comment.
//
// ipvsadm applies the lines one by one as it reads them: a line with an
// argument error ends the restore with the lines before it applied, a
// line the kernel refuses is reported and the restore carries on. Here a
// restore is all or nothing instead: every line is parsed and checked
// first, then all of them run on a stage (ctl.Manager.Batch) and the
// table changes in one publication only if every one succeeded. The first
// failing line leaves the table exactly as it was; its message is
// ipvsadm's, followed by the line number:
//
//	Destination already exists
//	Restore failed at line 4; nothing was changed
//
// The exit status is the failing command's (2 for an argument error, 255
// for a refused operation). Help (-h), version (-v) and a nested -R are
// not rules.

// maxRuleLine bounds one line of rules.
const maxRuleLine = 1 << 20

// RuleError is the first rule of -R input or of a configuration file that
// failed: its line number (from 1), ipvsadm's message for it (without the
// trailing newline) and the exit status ipvsadm would have returned.
type RuleError struct {
	Line int
	Msg  string
	Code int
}

func (e *RuleError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// rule is one command line of the input.
type rule struct {
	line  int
	words []string
}

// readRules splits rules input into command lines.
func readRules(in io.Reader) ([]rule, error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 4096), maxRuleLine)
	var rules []rule
	n := 0
	for sc.Scan() {
		n++
		rules = appendRule(rules, n, sc.Text())
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &RuleError{Line: n + 1, Msg: fmt.Sprintf("line longer than %d bytes", maxRuleLine), Code: exitArgs}
		}
		return nil, err
	}
	return rules, nil
}

func appendRule(rules []rule, n int, text string) []rule {
	if i := strings.IndexByte(text, '#'); i >= 0 {
		text = text[:i]
	}
	var words []string
	for _, w := range strings.FieldsFunc(text, func(c rune) bool { return c == ' ' || c == '\t' || c == '\r' }) {
		if w != program {
			words = append(words, w)
		}
	}
	if len(words) == 0 {
		return rules
	}
	return append(rules, rule{line: n, words: words})
}

// preparedRule is a parsed and checked rule.
type preparedRule struct {
	line int
	cmd  *command
}

// prepareRules parses and checks every rule, touching no table.
func prepareRules(rules []rule, names *Names) ([]preparedRule, error) {
	out := make([]preparedRule, 0, len(rules))
	for _, ru := range rules {
		scratch := &runner{out: new(strings.Builder), errw: new(strings.Builder), names: names}
		c, err := scratch.prepare(ru.words)
		if err != nil {
			var e *exit
			if !errors.As(err, &e) {
				return nil, &RuleError{Line: ru.line, Msg: err.Error(), Code: exitKernel}
			}
			if e.code == 0 { // -h, -v
				return nil, &RuleError{Line: ru.line, Msg: "Help and version requests are not rules", Code: exitArgs}
			}
			return nil, &RuleError{Line: ru.line, Msg: strings.TrimRight(e.msg, "\n"), Code: e.code}
		}
		if c.cmd == cmdRestore {
			return nil, &RuleError{Line: ru.line, Msg: strings.TrimRight(tryHelp().Error(), "\n"), Code: exitKernel}
		}
		out = append(out, preparedRule{line: ru.line, cmd: c})
	}
	return out, nil
}

// runRules executes prepared rules on m (a stage) until one fails.
func runRules(m *ctl.Manager, rules []preparedRule, out, errw *strings.Builder) error {
	r := &runner{m: m, out: out, errw: errw}
	for _, p := range rules {
		mark := errw.Len()
		code, err := r.execute(p.cmd, true)
		var e *exit
		switch {
		case errors.As(err, &e):
			return &RuleError{Line: p.line, Msg: strings.TrimRight(errw.String()[mark:]+e.msg, "\n"), Code: e.code}
		case err != nil:
			return &RuleError{Line: p.line, Msg: err.Error(), Code: exitKernel}
		case code != 0:
			return &RuleError{Line: p.line, Msg: strings.TrimRight(errw.String()[mark:], "\n"), Code: code}
		}
	}
	return nil
}

// applyRules reads, checks and runs rules on m all or nothing: through
// ctl.Manager.Replace when replace is set, else through Batch, resolving
// names with names. It returns what the rules printed.
func applyRules(m *ctl.Manager, in io.Reader, replace bool, names *Names) (stdout, stderr string, ch ctl.Changes, err error) {
	rules, err := readRules(in)
	if err != nil {
		return "", "", ch, err
	}
	prepared, err := prepareRules(rules, names)
	if err != nil {
		return "", "", ch, err
	}
	var out, errw strings.Builder
	run := func(st *ctl.Manager) error { return runRules(st, prepared, &out, &errw) }
	if replace {
		ch, err = m.Replace(run)
	} else {
		ch, err = m.Batch(run)
	}
	if err != nil {
		return "", "", ctl.Changes{}, err
	}
	return out.String(), errw.String(), ch, nil
}

// restore is ipvsadm -R: the rules on standard input, all or nothing.
func (r *runner) restore() (int, error) {
	if r.stdin == nil {
		return 0, nil
	}
	out, errOut, _, err := applyRules(r.m, r.stdin, false, r.names)
	if err != nil {
		var re *RuleError
		if errors.As(err, &re) {
			return 0, &exit{code: re.Code, msg: fmt.Sprintf("%s\nRestore failed at line %d; nothing was changed\n", re.Msg, re.Line)}
		}
		return 0, &exit{code: exitKernel, msg: fmt.Sprintf("%v\nRestore failed; nothing was changed\n", err)}
	}
	r.out.WriteString(out)
	r.errw.WriteString(errOut)
	return 0, nil
}

// Replace makes the rules read from in (ipvsadm -S output, or any input
// of ipvsadm -R, applied to an empty table) the whole configuration of
// services of m, as one change: services, real servers and FullNAT local
// addresses that stay keep their identity, counters, scheduler state and
// connections; changed settings are stored in place; the rest is added or
// removed (ctl.Manager.Replace). If a rule fails, nothing changes and the
// error is a *RuleError naming its line. What the rules print (listings)
// is discarded. This is how gdirector run --config loads and reloads its
// file.
func Replace(m *ctl.Manager, in io.Reader) (ctl.Changes, error) {
	_, _, ch, err := applyRules(m, in, true, nil)
	return ch, err
}

// ReadsInput reports whether a command line reads standard input: a valid
// ipvsadm -R. A client of the control socket sends its standard input
// along only then (ctl.Request.Input).
func ReadsInput(argv []string) bool {
	r := &runner{out: new(strings.Builder), errw: new(strings.Builder)}
	c, err := r.prepare(argv)
	return err == nil && c.cmd == cmdRestore
}
