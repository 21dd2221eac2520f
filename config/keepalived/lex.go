package keepalived

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gdirector/gdirector/config"
)

// Limits that keep a hostile or broken file from exhausting memory.
const (
	maxIncludeDepth = 32      // nested include levels
	maxItems        = 1 << 20 // statements and braces in all
	maxLineLen      = 1 << 16 // a line after parameter substitution
	maxSubst        = 10000   // substitutions on one line
	maxExpandDepth  = 64      // multi-line definitions inside multi-line definitions
	maxLines        = 1 << 22 // lines read and produced by parameter substitution
)

// pos is where a statement comes from.
type pos struct {
	file string
	line int
}

// errf returns an error naming the position.
func (p pos) errf(format string, args ...any) error {
	return config.Errorf(p.file, p.line, format, args...)
}

// item is a statement, "{" or "}": keepalived reads a line, then splits
// it before every '{' or '}' outside double quotes and after a leading
// one, so that "real_server 192.0.2.1 80 { weight 2" is the three items
// "real_server 192.0.2.1 80", "{" and "weight 2".
type item struct {
	pos
	text string
}

// definition is a $NAME=VALUE parameter.
type definition struct {
	lines     []string // the value, one element per line
	multiline bool     // defined over several lines (ending in '\')
}

// reader turns files into items: comments, includes, parameter
// definitions and substitution, then the splitting at braces.
type reader struct {
	readFile func(string) ([]byte, error)
	defs     map[string]*definition
	pending  *definition // a multi-line definition being read
	items    []item
	depth    int // of includes
	lines    int // lines handled, including those of multi-line parameters
}

func newReader(readFile func(string) ([]byte, error)) *reader {
	if readFile == nil {
		readFile = os.ReadFile
	}
	return &reader{readFile: readFile, defs: map[string]*definition{}}
}

// text reads the lines of one file.
func (r *reader) text(file string, data []byte) error {
	for n := 1; len(data) > 0; n++ {
		line := data
		if i := strings.IndexByte(string(data), '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		for len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		p := pos{file, n}
		if slices.Contains(line, 0) {
			return p.errf("the line contains a NUL byte")
		}
		if err := r.physical(p, string(line)); err != nil {
			return err
		}
	}
	r.pending = nil // a multi-line definition ends with its file
	return nil
}

// physical handles one line as read from a file.
func (r *reader) physical(p pos, raw string) error {
	if raw == "" {
		// An empty line ends a multi-line definition (a line with only a
		// comment does not).
		r.pending = nil
		return nil
	}
	text, err := decomment(raw)
	if err != nil {
		return p.errf("%v", err)
	}
	if d := r.pending; d != nil {
		if text == "" {
			return nil
		}
		if rest, ok := strings.CutSuffix(text, `\`); ok {
			if rest = strings.TrimRight(rest, " \t"); rest != "" {
				d.lines = append(d.lines, rest)
			}
			return nil
		}
		d.lines = append(d.lines, text)
		r.pending = nil
		return nil
	}
	if text == "" {
		return nil
	}
	if kind, pattern, ok := includeLine(text); ok {
		return r.include(p, kind, pattern)
	}
	return r.logical(p, text, 0)
}

// logical handles a line once comments are gone: conditional lines,
// definitions, sequences, parameter substitution, then braces.
func (r *reader) logical(p pos, text string, depth int) error {
	if depth > maxExpandDepth {
		return p.errf("multi-line parameter definitions nest more than %d deep", maxExpandDepth)
	}
	if r.lines++; r.lines > maxLines {
		return p.errf("the configuration expands to more than %d lines", maxLines)
	}
	switch {
	case text[0] == '@':
		return p.errf("conditional configuration (@ID at the start of a line) is not supported: gdirector has no configuration id; keep only the lines for this host")
	case strings.HasPrefix(text, "~SEQ") || strings.HasPrefix(text, "~LST"):
		return p.errf("%s blocks are not supported: write the lines out", text[:4])
	case text[0] == '$':
		if name, d, ok := parseDefinition(text); ok {
			r.defs[name] = d // may replace a built-in one, as in keepalived
			if d.multiline {
				r.pending = d
			}
			return nil
		}
	}
	if text[0] == '~' || !strings.Contains(text, "$") {
		return r.emit(p, text)
	}
	first, rest, changed, err := r.substitute(p, text)
	if err != nil {
		return err
	}
	if changed {
		if first, err = decomment(first); err != nil {
			return p.errf("after parameter substitution: %v", err)
		}
	}
	if first != "" {
		if err := r.emit(p, first); err != nil {
			return err
		}
	}
	for _, l := range rest {
		if l == "" {
			continue
		}
		if err := r.logical(p, l, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// emit splits a line at braces into items.
func (r *reader) emit(p pos, text string) error {
	for text != "" {
		if len(r.items) >= maxItems {
			return p.errf("the configuration has more than %d statements", maxItems)
		}
		if text[0] == '{' || text[0] == '}' {
			r.items = append(r.items, item{p, text[:1]})
			text = strings.TrimLeft(text[1:], " \t")
			continue
		}
		k := braceIndex(text)
		if k < 0 {
			k = len(text)
		}
		// A statement of blanks only (\f, \v…) is no statement, as for
		// keepalived's alloc_strvec.
		if s := strings.TrimRight(text[:k], " \t"); strings.Trim(s, blanks) != "" {
			r.items = append(r.items, item{p, s})
		}
		text = text[k:]
	}
	return nil
}

// braceIndex finds the first '{' or '}' outside double quotes (-1: none;
// an unterminated quote hides the rest of the line).
func braceIndex(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{', '}':
			return i
		case '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return -1
			}
			i += j + 1
		}
	}
	return -1
}

// decomment removes a comment ('!' or '#' outside double quotes to the
// end of the line), the backslash of "\#" and "\!" outside quotes, and
// leading and trailing blanks, as keepalived's decomment does. A
// backslash that ends the line is kept (it continues a multi-line
// definition); blanks before it go.
func decomment(s string) (string, error) {
	s = strings.TrimLeft(s, " \t")
	var b strings.Builder
	quote, cont := false, false
scan:
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quote = !quote
			b.WriteByte(c)
		case c == '\\':
			if i+1 == len(s) {
				cont = true
				break scan
			}
			if !quote && (s[i+1] == '#' || s[i+1] == '!') {
				b.WriteByte(s[i+1])
			} else {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
			}
			i++
		case !quote && (c == '!' || c == '#'):
			break scan
		default:
			b.WriteByte(c)
		}
	}
	if quote {
		return "", errors.New("unterminated quote (\")")
	}
	out := strings.TrimRight(b.String(), " \t")
	if cont {
		out += `\`
	}
	return out, nil
}

// parseDefinition reads "$NAME=VALUE" (no blank before '=').
func parseDefinition(text string) (string, *definition, bool) {
	eq := strings.IndexByte(text, '=')
	if eq < 2 || !identifier(text[1:eq]) {
		return "", nil, false
	}
	value := strings.TrimLeft(text[eq+1:], " \t")
	d := &definition{}
	if v, ok := strings.CutSuffix(value, `\`); ok {
		d.multiline = true
		value = strings.TrimRight(v, " \t")
	}
	if value != "" || !d.multiline {
		d.lines = []string{value}
	}
	return text[1:eq], d, true
}

// identifier reports whether s is a parameter name: letters, digits and
// '_', not starting with a digit.
func identifier(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// substitute replaces the parameters of a line ($NAME followed by a
// blank, ',', ')' or the end of the line, or ${NAME}); replacement text
// is scanned again, so values may refer to other parameters. Undefined
// parameters stay as they are. A multi-line parameter may only end the
// line: its first line replaces the reference, the others come back in
// rest, to be read as the lines that follow.
func (r *reader) substitute(p pos, text string) (first string, rest []string, changed bool, err error) {
	i := 0
	for n := 0; ; n++ {
		j := strings.IndexByte(text[i:], '$')
		if j < 0 {
			break
		}
		j += i
		name, params, refLen, ok := reference(text[j+1:])
		if !ok {
			i = j + 1
			continue
		}
		atEnd := j+1+refLen == len(text)
		var value []string
		multiline := false
		if d, ok := r.defs[name]; ok {
			if params != "" || d.multiline && !atEnd {
				i = j + 1
				continue
			}
			value, multiline = d.lines, d.multiline
		} else {
			switch name {
			case "_INSTANCE", "_RANDOM", "_ENV":
				return "", nil, false, p.errf("${%s} is not supported: the configuration must not depend on the host name, the environment or chance", name)
			case "_PWD":
				value = []string{dirOf(p.file)}
			case "_HASH":
				value = []string{"#"}
			case "_BANG":
				value = []string{"!"}
			default:
				i = j + 1
				continue
			}
			if params != "" {
				i = j + 1
				continue
			}
		}
		if n >= maxSubst {
			return "", nil, false, p.errf("parameter substitution does not end (more than %d substitutions on the line)", maxSubst)
		}
		repl := ""
		if len(value) > 0 {
			repl = value[0]
		}
		if multiline && len(value) > 1 {
			rest = append(slices.Clone(value[1:]), rest...)
		}
		text = text[:j] + repl + text[j+1+refLen:]
		if len(text) > maxLineLen {
			return "", nil, false, p.errf("the line is longer than %d characters after parameter substitution", maxLineLen)
		}
		changed = true
		i = j
	}
	return text, rest, changed, nil
}

// reference reads a parameter reference after its '$': NAME (then a
// blank, ',', ')' or the end) or {NAME} or {NAME PARAMS}. refLen is the
// length read.
func reference(s string) (name, params string, refLen int, ok bool) {
	if strings.HasPrefix(s, "{") {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return "", "", 0, false
		}
		inner := s[1:end]
		k := strings.IndexAny(inner, " \t")
		if k < 0 {
			k = len(inner)
		}
		name, params = inner[:k], strings.TrimLeft(inner[k:], " \t")
		if !identifier(name) || params != "" && strings.TrimRight(params, " \t") != params {
			return "", "", 0, false
		}
		for i := 0; i < len(params); i++ {
			c := params[i]
			if !(c == ' ' || c == '\t' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return "", "", 0, false
			}
		}
		return name, params, end + 1, true
	}
	n := 0
	for n < len(s) && (s[n] == '_' || s[n] >= 'a' && s[n] <= 'z' || s[n] >= 'A' && s[n] <= 'Z' || n > 0 && s[n] >= '0' && s[n] <= '9') {
		n++
	}
	if n == 0 || !identifier(s[:n]) {
		return "", "", 0, false
	}
	if n < len(s) && !strings.ContainsRune(" \t,)", rune(s[n])) {
		return "", "", 0, false
	}
	return s[:n], "", n, true
}

// dirOf is ${_PWD}: the directory of the file being read.
func dirOf(file string) string {
	if file == "" {
		file = "."
	} else {
		file = filepath.Dir(file)
	}
	if abs, err := filepath.Abs(file); err == nil {
		return abs
	}
	return file
}

// Include variants: each adds checks to plain include.
const (
	incReadable = 1 << iota // includer: every match must be readable
	incMatch                // includem: a name without wildcards must match
	incWildcard             // includew: a pattern with wildcards must match
	incBrace                // includeb: every brace alternative must match
)

// includeLine recognises "include FILE" and its variants includer,
// includem, includew, includeb and includea.
func includeLine(text string) (kind int, pattern string, ok bool) {
	rest, found := strings.CutPrefix(text, "include")
	if !found || rest == "" {
		return 0, "", false
	}
	if rest[0] != ' ' && rest[0] != '\t' {
		if len(rest) < 2 || (rest[1] != ' ' && rest[1] != '\t') {
			return 0, "", false
		}
		switch rest[0] {
		case 'r':
			kind = incReadable
		case 'm':
			kind = incReadable | incMatch
		case 'w':
			kind = incReadable | incMatch | incWildcard
		case 'b':
			kind = incReadable | incBrace
		case 'a':
			kind = incReadable | incMatch | incWildcard | incBrace
		default:
			return 0, "", false
		}
		rest = rest[1:]
	}
	return kind, strings.TrimLeft(rest, " \t"), true
}

// include reads the files a pattern names. A relative pattern is relative
// to the directory of the including file (keepalived changes into it).
// The files are read in the order of their names, as glob(3) returns
// them. Whatever the variant, a file that cannot be read is an error, and
// so is a name without wildcards that names no file: gdirector never
// applies part of a configuration. A wildcard pattern may match nothing,
// except with includew and includea.
func (r *reader) include(p pos, kind int, pattern string) error {
	if pattern == "" {
		return p.errf("include: missing file name")
	}
	if !filepath.IsAbs(pattern) && p.file != "" {
		pattern = filepath.Join(filepath.Dir(p.file), pattern)
	}
	if r.depth >= maxIncludeDepth {
		return p.errf("include %s: includes nest more than %d deep (does a file include itself?)", pattern, maxIncludeDepth)
	}
	alternatives, err := expandBraces(pattern)
	if err != nil {
		return p.errf("include %s: %v", pattern, err)
	}
	var files []string
	for _, pat := range alternatives {
		if !hasMeta(pat) {
			files = append(files, pat)
			continue
		}
		matches, err := glob(pat)
		if err != nil {
			return p.errf("include %s: %v", pat, err)
		}
		if len(matches) == 0 && (kind&incWildcard != 0 || kind&incBrace != 0 && len(alternatives) > 1) {
			return p.errf("include %s: no file matches", pat)
		}
		files = append(files, matches...)
	}
	r.depth++
	defer func() { r.depth-- }()
	for _, f := range files {
		data, err := r.readFile(f)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return p.errf("include %s: no such file", f)
			}
			return p.errf("include %s: %v", f, err)
		}
		if err := r.text(f, data); err != nil {
			return err
		}
	}
	return nil
}

// hasMeta reports whether a pattern has glob wildcards.
func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// glob is filepath.Glob with glob(3)'s manners: names starting with '.'
// match only a pattern element starting with '.', directories are
// skipped, and the result is sorted.
func glob(pattern string) ([]string, error) {
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	hidden := strings.HasPrefix(filepath.Base(pattern), ".")
	out := matches[:0]
	for _, m := range matches {
		if strings.HasPrefix(filepath.Base(m), ".") && !hidden {
			continue
		}
		if st, err := os.Stat(m); err == nil && st.IsDir() {
			continue
		}
		out = append(out, m)
	}
	slices.Sort(out)
	return out, nil
}

// expandBraces expands csh-style braces ("a{b,c{d,e}}f" is abf, acdf and
// acef), as glob(3) does with GLOB_BRACE. A pattern with "{}" or without
// a matching '}' is taken literally, also as glob(3) does.
func expandBraces(s string) ([]string, error) {
	open := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '{' {
			open = i
			break
		}
	}
	if open < 0 {
		return []string{s}, nil
	}
	depth, close := 0, -1
	var commas []int
	for i := open; i < len(s) && close < 0; i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				close = i
			}
		case ',':
			if depth == 1 {
				commas = append(commas, i)
			}
		}
	}
	if close < 0 || close == open+1 {
		return []string{s}, nil
	}
	var out []string
	start := open + 1
	for _, end := range append(commas, close) {
		more, err := expandBraces(s[:open] + s[start:end] + s[close+1:])
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
		if len(out) > 1024 {
			return nil, fmt.Errorf("the braces expand to more than 1024 names")
		}
		start = end + 1
	}
	return out, nil
}

// blanks separate words.
const blanks = " \t\f\n\r\v"

// words splits a statement as keepalived's alloc_strvec does: blanks
// separate words, and a word starting with '"' runs to the next '"'
// (without escapes; the quotes are dropped).
func words(s string) ([]string, error) {
	const blank = blanks
	var out []string
	for {
		s = strings.TrimLeft(s, blank)
		if s == "" {
			return out, nil
		}
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unmatched quote in %q", s)
			}
			out = append(out, s[1:1+end])
			s = s[end+2:]
			continue
		}
		end := strings.IndexAny(s, blank+`"`)
		if end < 0 {
			end = len(s)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
}

// shellWords splits a line as keepalived does for scripts: blanks outside
// quotes separate words, "…" and '…' quote (the quotes are dropped and
// quoted parts join their neighbours), and a backslash escapes the next
// character. With escapes, \a \b \E \f \n \r \t \v, \NNN (octal), \xHH
// and \cC are read as in the shell's $'…'; without, the backslash stays
// with its character (for a second pass).
func shellWords(s string, escapes bool) ([]string, error) {
	const blank = " \t\f\n\r\v"
	var out []string
	i := 0
	for {
		for i < len(s) && strings.IndexByte(blank, s[i]) >= 0 {
			i++
		}
		if i == len(s) {
			return out, nil
		}
		var w []byte
		var quote byte
	word:
		for i < len(s) {
			c := s[i]
			switch {
			case c == '\\':
				i++
				if i == len(s) {
					return nil, fmt.Errorf("a backslash ends %q", s)
				}
				if !escapes {
					w = append(w, '\\', s[i])
					i++
					continue
				}
				var b byte
				b, i = unescape(s, i)
				w = append(w, b)
			case quote != 0:
				if c == quote {
					quote = 0
				} else {
					w = append(w, c)
				}
				i++
			case strings.IndexByte(blank, c) >= 0:
				break word
			case c == '"' || c == '\'':
				quote = c
				i++
			default:
				w = append(w, c)
				i++
			}
		}
		if quote != 0 {
			return nil, fmt.Errorf("missing closing %c in %q", quote, s)
		}
		out = append(out, string(w))
	}
}

// unescape reads the escape sequence at s[i] (just after a backslash) and
// returns the byte it stands for and the index after it.
func unescape(s string, i int) (byte, int) {
	hex := func(c byte) (byte, bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	c := s[i]
	switch {
	case c == 'x' && i+1 < len(s):
		if v, ok := hex(s[i+1]); ok {
			i += 2
			if i < len(s) {
				if v2, ok := hex(s[i]); ok {
					v = v<<4 | v2
					i++
				}
			}
			return v, i
		}
	case c == 'c' && i+1 < len(s):
		return s[i+1] & 0x1f, i + 2
	case c >= '0' && c <= '7':
		v := c - '0'
		i++
		for k := 0; k < 2 && i < len(s) && s[i] >= '0' && s[i] <= '7'; k++ {
			v = v<<3 + s[i] - '0'
			i++
		}
		return v, i
	}
	switch c {
	case 'a':
		c = '\a'
	case 'b':
		c = '\b'
	case 'E':
		c = 0x1b
	case 'f':
		c = '\f'
	case 'n':
		c = '\n'
	case 'r':
		c = '\r'
	case 't':
		c = '\t'
	case 'v':
		c = '\v'
	}
	return c, i + 1
}

// shellJoin writes argv as one POSIX shell command line: words made of
// safe characters as they are, others in single quotes. sh -c, or any
// splitter that follows the shell's quoting, gets argv back.
func shellJoin(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-") == "" {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}
