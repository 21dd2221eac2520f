package config

import (
	"bufio"
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
)

// ParseFormat reads a --format value: ipvsadm, keepalived, ldirectord or
// native (also yaml); "" or auto is FormatUnknown, which means: Detect.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return FormatUnknown, nil
	case "ipvsadm", "ipvs", "rules":
		return FormatIPVSRules, nil
	case "keepalived":
		return FormatKeepalived, nil
	case "ldirectord":
		return FormatLdirectord, nil
	case "native", "yaml", "gdirector":
		return FormatNative, nil
	}
	return FormatUnknown, fmt.Errorf("unknown format %q (ipvsadm, keepalived, ldirectord, native or auto)", s)
}

// keepalivedBlocks are the words that open a top-level keepalived.conf
// block.
var keepalivedBlocks = map[string]bool{
	"global_defs": true, "virtual_server": true, "virtual_server_group": true,
	"vrrp_instance": true, "vrrp_sync_group": true, "vrrp_script": true,
	"static_ipaddress": true, "static_routes": true, "linkbeat_interfaces": true,
}

// Detect tells the format of a configuration file from its contents, and
// only when they say nothing from its name:
//
//   - keepalived.conf: a line opening a global_defs, virtual_server (or
//     another top-level keepalived) block;
//   - ldirectord.cf: a virtual= line;
//   - native: YAML with a top-level services: key;
//   - ipvsadm rules: the first line that is not blank or a comment is an
//     ipvsadm option (-A, -a, -C, --set, ...). A file with nothing but
//     blank lines and comments is an empty set of ipvsadm rules, as
//     ipvsadm -R reads it.
//
// Failing those, a .yaml/.yml name is native, a path containing
// "keepalived" is keepalived, a .cf name is ldirectord, and anything else
// is FormatUnknown.
func Detect(path string, data []byte) Format {
	var first string // the first significant line
	significant := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		if !significant {
			significant, first = true, line
		}
		if i := strings.IndexAny(line, "#!"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		word, _, _ := strings.Cut(line, " ")
		word, _, _ = strings.Cut(word, "\t")
		word = strings.TrimSuffix(word, "{")
		if keepalivedBlocks[word] {
			return FormatKeepalived
		}
		// Top-level YAML key (no indentation).
		if k, rest, ok := strings.Cut(raw, ":"); ok && strings.TrimRight(k, " \t") == "services" &&
			(rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			return FormatNative
		}
		if k, _, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "virtual" && !strings.HasPrefix(raw, " ") && !strings.HasPrefix(raw, "\t") {
			return FormatLdirectord
		}
	}
	if sc.Err() != nil {
		significant = true // a line too long for any of the formats
	}
	switch {
	case !significant:
		return FormatIPVSRules
	case len(first) > 1 && first[0] == '-' && (isLetter(first[1]) || first[1] == '-' && len(first) > 2 && isLetter(first[2])):
		return FormatIPVSRules
	case strings.HasPrefix(first, "{") && bytes.Contains(data, []byte(`services`)):
		// YAML flow style: {"services": [...]}.
		return FormatNative
	}
	base := strings.ToLower(filepath.Base(path))
	switch ext := filepath.Ext(base); {
	case ext == ".yaml" || ext == ".yml":
		return FormatNative
	case strings.Contains(strings.ToLower(path), "keepalived"):
		return FormatKeepalived
	case ext == ".cf" || strings.Contains(base, "ldirectord"):
		return FormatLdirectord
	}
	return FormatUnknown
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }
