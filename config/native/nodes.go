package native

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gdirector/gdirector/config"
	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the nodes a document may expand to through aliases
// (a few nested aliases can otherwise describe billions of nodes).
const maxNodes = 1 << 20

// maxMergeDepth bounds nested merge keys ("<<").
const maxMergeDepth = 16

// parser walks a YAML node tree; every error it returns names the line.
type parser struct {
	path   string
	budget int // nodes left to visit
}

// errf returns an error naming the file and line.
func (p *parser) errf(line int, format string, args ...any) error {
	return config.Errorf(p.path, line, format, args...)
}

// yamlLine matches the line that go-yaml puts in its syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)

// decode reads the one YAML document of data.
func (p *parser) decode(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, p.errf(0, "empty configuration: a native configuration has a top-level services: key")
		}
		return nil, p.yamlError(err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, p.errf(extra.Line, "a second YAML document (---): a configuration is one document")
	case !errors.Is(err, io.EOF):
		return nil, p.yamlError(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, p.errf(doc.Line, "empty configuration: a native configuration has a top-level services: key")
	}
	return doc.Content[0], nil
}

// yamlError turns a go-yaml syntax error into one naming the line.
func (p *parser) yamlError(err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return p.errf(line, "YAML syntax: %s", m[2])
	}
	return p.errf(0, "YAML syntax: %s", strings.TrimPrefix(msg, "yaml: "))
}

// resolve follows aliases and charges the node to the budget.
func (p *parser) resolve(n *yaml.Node) (*yaml.Node, error) {
	line := n.Line
	for depth := 0; n.Kind == yaml.AliasNode; depth++ {
		if n.Alias == nil || depth > 64 {
			return nil, p.errf(line, "alias *%s leads nowhere", n.Value)
		}
		n = n.Alias
	}
	p.budget--
	if p.budget < 0 {
		return nil, p.errf(line, "the document expands to more than %d nodes (aliases of aliases?)", maxNodes)
	}
	return n, nil
}

// isNull reports whether a scalar is YAML's null (an empty value, ~, null).
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's kind for an error message.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// mapping is a YAML mapping whose keys were checked against the known ones.
type mapping struct {
	p     *parser
	node  *yaml.Node
	what  string
	vals  map[string]*yaml.Node
	lines map[string]int // where each key is
}

// mapping checks that n is a mapping with only known keys, no key twice,
// and returns it with merge keys ("<<: *anchor") applied: keys written
// in the mapping itself win over merged ones.
func (p *parser) mapping(n *yaml.Node, what string, known []string) (*mapping, error) {
	n, err := p.resolve(n)
	if err != nil {
		return nil, err
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n.Line, "%s must be a mapping (key: value lines), not %s", what, describe(n))
	}
	m := &mapping{p: p, node: n, what: what, vals: map[string]*yaml.Node{}, lines: map[string]int{}}
	if err := p.collect(m, n, known, 0, false); err != nil {
		return nil, err
	}
	return m, nil
}

// collect adds the keys of n to m; merged keys do not override.
func (p *parser) collect(m *mapping, n *yaml.Node, known []string, depth int, merged bool) error {
	var merges []*yaml.Node
	var mergeLines []int // where each merge key is
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, err := p.resolve(n.Content[i])
		if err != nil {
			return err
		}
		v := n.Content[i+1]
		if k.Kind != yaml.ScalarNode || isNull(k) {
			return p.errf(k.Line, "in %s: a key must be a plain word, not %s", m.what, describe(k))
		}
		if k.Value == "<<" && k.Style == 0 {
			merges = append(merges, v)
			mergeLines = append(mergeLines, k.Line)
			continue
		}
		if strings.HasPrefix(k.Value, "x-") && slices.Contains(known, extensionKeys) {
			continue // a place for anchors, otherwise ignored
		}
		if !slices.Contains(known, k.Value) {
			return p.errf(k.Line, "unknown key %q in %s%s", k.Value, m.what, suggest(k.Value, known))
		}
		if first, dup := m.lines[k.Value]; dup {
			if merged {
				continue // an earlier source of the merge wins
			}
			return p.errf(k.Line, "key %q repeated in %s (first at line %d)", k.Value, m.what, first)
		}
		m.vals[k.Value] = v
		m.lines[k.Value] = k.Line
	}
	for i, v := range merges {
		line := mergeLines[i]
		if depth >= maxMergeDepth {
			return p.errf(line, "merge keys (<<) nested too deep")
		}
		v, err := p.resolve(v)
		if err != nil {
			return err
		}
		var srcs []*yaml.Node
		switch v.Kind {
		case yaml.MappingNode:
			srcs = []*yaml.Node{v}
		case yaml.SequenceNode:
			srcs = v.Content
		default:
			return p.errf(line, "a merge key (<<) takes a mapping or a list of mappings, not %s", describe(v))
		}
		for _, s := range srcs {
			s, err := p.resolve(s)
			if err != nil {
				return err
			}
			if s.Kind != yaml.MappingNode {
				return p.errf(line, "a merge key (<<) takes a mapping or a list of mappings, not %s", describe(s))
			}
			if err := p.collect(m, s, known, depth+1, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// extensionKeys in a list of known keys lets keys starting with "x-"
// through, ignored (docker-compose style: they hold anchors).
const extensionKeys = "x-*"

// suggest proposes the known key nearest a misspelt one.
func suggest(key string, known []string) string {
	best, bestD := "", 3
	known = slices.DeleteFunc(slices.Clone(known), func(k string) bool { return k == extensionKeys })
	for _, k := range known {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return " (known keys: " + strings.Join(known, ", ") + ")"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance of two short words.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// has reports whether the key is present.
func (m *mapping) has(key string) bool { _, ok := m.vals[key]; return ok }

// line is where the key is, or the mapping's line.
func (m *mapping) line(key string) int {
	if l, ok := m.lines[key]; ok {
		return l
	}
	return m.node.Line
}

// scalar returns the key's scalar value node; ok is false when absent.
func (m *mapping) scalar(key string) (n *yaml.Node, ok bool, err error) {
	v, present := m.vals[key]
	if !present {
		return nil, false, nil
	}
	v, err = m.p.resolve(v)
	if err != nil {
		return nil, false, err
	}
	if v.Kind != yaml.ScalarNode || isNull(v) {
		return nil, false, m.p.errf(m.line(key), "%s: want a value, got %s", key, describe(v))
	}
	return v, true, nil
}

// str sets *dst to the key's string value if present.
func (m *mapping) str(key string, dst *string) error {
	v, ok, err := m.scalar(key)
	if err != nil || !ok {
		return err
	}
	*dst = v.Value
	return nil
}

// word sets *dst to the key's value if it is one of the choices.
func (m *mapping) word(key string, dst *string, choices ...string) error {
	v, ok, err := m.scalar(key)
	if err != nil || !ok {
		return err
	}
	w := strings.ToLower(v.Value)
	if !slices.Contains(choices, w) {
		return m.p.errf(v.Line, "%s: want one of %s, got %q", key, strings.Join(choices, ", "), v.Value)
	}
	*dst = w
	return nil
}

// boolean sets *dst to the key's truth value if present.
func (m *mapping) boolean(key string, dst *bool) error {
	v, ok, err := m.scalar(key)
	if err != nil || !ok {
		return err
	}
	b, good := parseBool(v.Value)
	if !good {
		return m.p.errf(v.Line, "%s: want true or false, got %q", key, v.Value)
	}
	*dst = b
	return nil
}

func parseBool(s string) (v, ok bool) {
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true, true
	case "false", "no", "off":
		return false, true
	}
	return false, false
}

// parseUint reads a decimal or 0x-hexadecimal number.
func parseUint(s string) (uint64, error) {
	s = strings.ReplaceAll(s, "_", "")
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		return strconv.ParseUint(h, 16, 64)
	}
	return strconv.ParseUint(s, 10, 64)
}

// integer sets *dst to the key's value if present, within lo..hi.
func (m *mapping) integer(key string, lo, hi int64, dst *int64) error {
	v, ok, err := m.scalar(key)
	if err != nil || !ok {
		return err
	}
	n, err := parseUint(strings.TrimPrefix(v.Value, "+"))
	if err != nil || n > math.MaxInt64 || int64(n) < lo || int64(n) > hi {
		return m.p.errf(v.Line, "%s: want a whole number %d..%d, got %q", key, lo, hi, v.Value)
	}
	*dst = int64(n)
	return nil
}

// intField is integer for int fields.
func (m *mapping) intField(key string, lo, hi int64, dst *int) error {
	v := int64(*dst)
	if err := m.integer(key, lo, hi, &v); err != nil {
		return err
	}
	*dst = int(v)
	return nil
}

// parseDuration reads a Go duration ("1.5s", "2m") or whole seconds ("5").
func parseDuration(s string) (time.Duration, bool) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return time.Duration(n) * time.Second, true
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, false
	}
	return d, true
}

// duration sets *dst to the key's duration if present, within lo..hi.
func (m *mapping) duration(key string, lo, hi time.Duration, dst *time.Duration) error {
	v, ok, err := m.scalar(key)
	if err != nil || !ok {
		return err
	}
	d, good := parseDuration(v.Value)
	if !good || d < lo || d > hi {
		return m.p.errf(v.Line, "%s: want a duration %v..%v (\"5s\", \"1m30s\", or whole seconds), got %q", key, lo, hi, v.Value)
	}
	*dst = d
	return nil
}

// seconds is duration for settings kept in whole seconds.
func (m *mapping) seconds(key string, hi int64, dst *int64) error {
	v, ok, err := m.scalar(key)
	if err != nil || !ok {
		return err
	}
	d, good := parseDuration(v.Value)
	if !good || d%time.Second != 0 || int64(d/time.Second) > hi {
		return m.p.errf(v.Line, "%s: want whole seconds 0..%d (\"90\", \"90s\", \"15m\"), got %q", key, hi, v.Value)
	}
	*dst = int64(d / time.Second)
	return nil
}

// addr sets *dst to the key's IP address if present.
func (m *mapping) addr(key string, dst *netip.Addr) error {
	v, ok, err := m.scalar(key)
	if err != nil || !ok {
		return err
	}
	a, err := netip.ParseAddr(v.Value)
	if err != nil || a.Zone() != "" {
		return m.p.errf(v.Line, "%s: want an IPv4 or IPv6 address, got %q", key, v.Value)
	}
	*dst = a.Unmap()
	return nil
}

// list returns the items of the key's list; a missing key or an empty
// value is no items.
func (m *mapping) list(key string) ([]*yaml.Node, error) {
	v, ok := m.vals[key]
	if !ok {
		return nil, nil
	}
	v, err := m.p.resolve(v)
	if err != nil {
		return nil, err
	}
	if isNull(v) {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, m.p.errf(m.line(key), "%s: want a list (lines starting with \"- \"), got %s", key, describe(v))
	}
	return v.Content, nil
}
