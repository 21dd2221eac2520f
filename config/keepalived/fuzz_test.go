package keepalived

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/ctl"
)

// lineRef is how every error and warning starts: the file and the line.
var lineRef = regexp.MustCompile(`^[^\n]*:[1-9][0-9]*: `)

// FuzzParse feeds arbitrary text to Parse: it must not panic; an error
// must name a line and come without a configuration; a configuration
// must be one that config.Validate accepts (every service's
// ctl.ServiceConfig and real servers valid for a ctl.Manager), with
// warnings that name their lines. Included files come from memory.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata", "testdata/public", "testdata/include", "testdata/include/services"} {
		names, _ := filepath.Glob(filepath.Join(dir, "*.conf*"))
		for _, n := range names {
			data, err := os.ReadFile(n)
			if err == nil {
				f.Add(string(data))
			}
		}
	}
	for _, seed := range []string{
		"",
		framed("lb_algo sh\nsh-port\npersistence_granularity 255.255.0.0", "weight 2\nTCP_CHECK {\nconnect_port 81\n}"),
		framed("ops\nprotocol UDP", "UDP_CHECK {\npayload 01 02\nrequire_reply 0x 1\n}"),
		framed("", "SSL_GET {\nenable_sni\nurl {\npath /\nregex \"^ok\"\nregex_options caseless\n}\n}"),
		"virtual_server_group g {\n192.0.2.1-4 80\nfwmark 3\n2001:db8::1-3 443\n}\nvirtual_server group g {\nlb_kind TUN\nreal_server 203.0.113.1 80 {\n}\n}",
		"virtual_server fwmark 1 {\nip_family inet6\nlb_kind DR\nreal_server 2001:db8::1 {\nPING_CHECK {\n}\n}\n}",
		"$A=1\n$B=${A}${A} \\\nx\n$B\ninclude part.conf\nincludea x/*.conf",
		"local_address_group l {\n198.51.100.1-9 eth0\n}\n" + framed("lb_kind FNAT\nladdr_group_name l", ""),
		"global_defs {\nlvs_timeouts tcp 1 udp 0\n}\nvrrp_instance x { a { b } }\n",
		"global_defs {\nvrrp_version 3\n}\nvrrp_instance v {\ninterface eth0\nvirtual_router_id 9\npriority 255\nadvert_int 0.1\nnopreempt\nunicast_peer {\n192.0.2.2\n}\nvirtual_ipaddress {\n192.0.2.9/24 dev eth0 label eth0:1\n}\nnotify \"/bin/n x\"\n}\n",
		"vrrp_instance w {\nversion 2\ninterface e\nvirtual_router_id 1\nauthentication {\nauth_type PASS\nauth_pass 1111\n}\nvirtual_ipaddress {\n2001:db8::1\n}\ntrack_interface {\neth1 weight 5\n}\n}\n",
		"vrrp_sync_group G {\ngroup {\nA B\n}\ntrack_interface {\neth2\neth3 weight -5 reverse\n}\nnotify \"/bin/g\"\nsync_group_tracking_weight\n}\nvrrp_instance A {\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\n192.0.2.1\n}\n}\nvrrp_instance B {\ninterface eth1\nvirtual_router_id 2\ndont_track_primary\nvirtual_ipaddress {\n203.0.113.254/24\n}\n}\n",
		"vrrp_script chk {\nscript \"/bin/chk -q 'a b'\"\ninterval 2.5\ntimeout 0\nweight -20 reverse\nrise 3\nfall 2\nuser nobody nogroup\ninit_fail\n}\nvrrp_script idle { script /bin/true }\n" +
			vrrpText("track_script {\nchk weight 254 noreverse\n}"),
		strings.Replace(groupScripts, "GROUPOPT", "notify /bin/n", 1),
		strings.Replace(groupScripts, "GROUPOPT", "sync_group_tracking_weight", 1),
		vrrpText("priority 255\ntrack_script {\nchk weight 3\nchk2\n}") + scriptText("chk") + scriptText("chk2"),
	} {
		f.Add(seed)
	}
	read := memFS(map[string]string{
		"part.conf": framed("", "MISC_CHECK {\nmisc_path \"/bin/true x\"\n}"),
	})
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Parse("fuzz.conf", []byte(text), read)
		if err != nil {
			if c != nil {
				t.Fatalf("a configuration came back with the error %v", err)
			}
			if !lineRef.MatchString(err.Error()) {
				t.Fatalf("the error does not name a line: %v", err)
			}
			return
		}
		if c.Format != config.FormatKeepalived || c.Path != "fuzz.conf" {
			t.Fatalf("format %v, path %q", c.Format, c.Path)
		}
		for i := range c.Services {
			s := &c.Services[i]
			m := ctl.NewManager(ctl.Config{})
			if err := m.AddService(s.ServiceConfig); err != nil {
				t.Fatalf("service %d (line %d): %v\n%s", i, s.Line, err, text)
			}
			for _, d := range s.Dests {
				if err := m.AddDest(s.ServiceID, d.DestConfig); err != nil {
					t.Fatalf("real server line %d: %v\n%s", d.Line, err, text)
				}
			}
		}
		scripts := map[string]bool{}
		for _, sc := range c.VRRPScripts {
			if sc.Command == "" || sc.Interval < time.Second || sc.Timeout < time.Second || sc.Rise < 1 || sc.Fall < 1 ||
				sc.Weight < -253 || sc.Weight > 253 || scripts[sc.Name] {
				t.Fatalf("vrrp_script line %d: %+v\n%s", sc.Line, sc, text)
			}
			scripts[sc.Name] = true
		}
		tracked := map[string]bool{}
		for _, v := range c.VRRP {
			for _, tr := range v.TrackScripts {
				if !scripts[tr.Script] || tr.Weight < -253 || tr.Weight > 253 || tracked[v.Name+" "+tr.Script] {
					t.Fatalf("vrrp_instance %s: track_script line %d: %+v\n%s", v.Name, tr.Line, tr, text)
				}
				tracked[v.Name+" "+tr.Script] = true
				tracked[tr.Script] = true
			}
		}
		for name := range scripts {
			if !tracked[name] {
				t.Fatalf("vrrp_script %s is published but tracked by no instance\n%s", name, text)
			}
		}
		// config.Validate republishes the whole table for every item it
		// adds (quadratic): keep it to configurations of a sane size.
		if len(c.Services) <= 256 {
			if err := config.Validate(c, nil); err != nil {
				t.Fatalf("Validate: %v\n%s", err, text)
			}
		}
		for _, w := range c.Warnings {
			if !lineRef.MatchString(w) {
				t.Fatalf("the warning does not name a line: %q", w)
			}
		}
	})
}
