// Package load reads a configuration file of any format the director
// understands into a config.Config and validates it: ipvsadm rules (the
// output of ipvsadm -S), keepalived.conf, ldirectord.cf and gdirector's
// native YAML. The format is given (--format) or told from the contents
// (config.Detect).
//
// It is a package of its own because the format parsers import package
// config, so config cannot import them.
//
// ipvsadm rules are not parsed a second time here: they run, with ipvsadm's
// own grammar and checks, on a scratch ctl.Manager (ipvsadm.Replace), and
// the Config is read back from it (services in the order they were added,
// real servers in the order they were added so that adding them again
// rebuilds the same table, local addresses, and timeouts if the rules set
// any). Such a file's errors read as before: "PATH: line N: message".
package load

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/config/keepalived"
	"github.com/gdirector/gdirector/config/ldirectord"
	"github.com/gdirector/gdirector/config/native"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/ipvsadm"
	"github.com/gdirector/gdirector/vs"
)

// MaxSize is the largest configuration file Load reads.
const MaxSize = 16 << 20

// Options tune Parse and LoadOptions.
type Options struct {
	// Format is the file's format; FormatUnknown = config.Detect.
	Format config.Format
	// CheckDest is the data plane's restriction on real servers
	// (ctl.Config.CheckDest), applied while validating; nil = none.
	CheckDest func(ctl.DestConfig) error
	// ReadFile reads files a configuration includes (keepalived's
	// include); nil = os.ReadFile.
	ReadFile func(path string) ([]byte, error)
}

// Load reads the file at path in the given format (FormatUnknown: told
// from the contents), parses and validates it.
func Load(path string, format config.Format) (*config.Config, error) {
	return LoadOptions(path, Options{Format: format})
}

// LoadOptions is Load with options.
func LoadOptions(path string, opt Options) (*config.Config, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, opt)
}

// readFile reads a configuration file, refusing huge ones.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s: larger than %d MiB", path, MaxSize>>20)
	}
	return data, nil
}

// Parse parses data, read from path, and validates the result.
func Parse(path string, data []byte, opt Options) (*config.Config, error) {
	format := opt.Format
	if format == config.FormatUnknown {
		format = config.Detect(path, data)
	}
	var cfg *config.Config
	var err error
	switch format {
	case config.FormatIPVSRules:
		return IPVSRules(path, data, opt.CheckDest)
	case config.FormatKeepalived:
		rf := opt.ReadFile
		if rf == nil {
			rf = readFile
		}
		cfg, err = keepalived.Parse(path, data, rf)
	case config.FormatLdirectord:
		cfg, err = ldirectord.Parse(path, data)
	case config.FormatNative:
		cfg, err = native.Parse(path, data)
	default:
		return nil, config.Errorf(path, 0, "cannot tell the format of the file: give it with --format (ipvsadm, keepalived, ldirectord or native)")
	}
	if err != nil {
		return nil, err
	}
	if err := config.Validate(cfg, opt.CheckDest); err != nil {
		return nil, err
	}
	return cfg, nil
}

// IPVSRules runs a file of ipvsadm rules on a scratch Manager and returns
// the configuration they build. checkDest is as in Options.
func IPVSRules(path string, data []byte, checkDest func(ctl.DestConfig) error) (*config.Config, error) {
	ts := &timeoutRecorder{}
	m := ctl.NewManager(ctl.Config{CheckDest: checkDest, Timeouts: ts})
	if _, err := ipvsadm.Replace(m, bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg := &config.Config{Path: path, Format: config.FormatIPVSRules}
	if ts.set {
		cfg.Timeouts = &config.Timeouts{
			TCP:    time.Duration(ts.v[0]) * time.Second,
			TCPFin: time.Duration(ts.v[1]) * time.Second,
			UDP:    time.Duration(ts.v[2]) * time.Second,
		}
	}
	for _, s := range m.Table().Services {
		svc := config.Service{
			ServiceConfig: ctl.ServiceConfig{
				ServiceID: ctl.ServiceID{Proto: s.Proto, Addr: s.Addr, Port: s.Port, FwMark: s.FwMark, IPv6: s.FwMark != 0 && s.IPv6},
				Scheduler: s.SchedName,
				Flags:     s.Flags &^ vs.SvcHashed,
				Timeout:   s.Timeout,
				Netmask:   s.Netmask,
				PE:        s.PEName,
			},
			Name:   serviceName(s),
			Quorum: 1,
		}
		if s.FwMark != 0 {
			svc.Proto, svc.Addr, svc.Port = 0, netip.Addr{}, 0
		}
		for _, la := range s.LAddrs {
			svc.LAddrs = append(svc.LAddrs, config.LocalAddr{Addr: la.Addr, Iface: la.Iface})
		}
		// The table lists the most recently added first; adding them in
		// the reverse order builds the same list.
		for _, d := range slices.Backward(s.Dests) {
			svc.Dests = append(svc.Dests, config.Dest{DestConfig: ctl.DestConfig{
				Addr: d.Addr, Port: d.Port, Fwd: d.FwdMethod(), Weight: d.Weight.Load(),
				UThreshold: d.UThreshold.Load(), LThreshold: d.LThreshold.Load(),
			}})
		}
		cfg.Services = append(cfg.Services, svc)
	}
	return cfg, nil
}

// serviceName labels a service as ipvsadm -L -n shows it.
func serviceName(s *vs.Service) string {
	if s.FwMark != 0 {
		if s.IPv6 {
			return fmt.Sprintf("FWM %d IPv6", s.FwMark)
		}
		return fmt.Sprintf("FWM %d", s.FwMark)
	}
	addr := s.Addr.String()
	if s.Addr.Is6() {
		addr = "[" + addr + "]"
	}
	return fmt.Sprintf("%s %s:%d", s.Proto, addr, s.Port)
}

// timeoutRecorder stands in for the connection table on the scratch
// Manager: it starts at zero ("unchanged"), so what the rules set with
// --set is exactly what it receives.
type timeoutRecorder struct {
	v   [3]int
	set bool
}

func (t *timeoutRecorder) SetTimeouts(tcp, tcpfin, udp int) {
	for i, v := range []int{tcp, tcpfin, udp} {
		if v > 0 {
			t.v[i] = v
			t.set = true
		}
	}
}

func (t *timeoutRecorder) Timeouts() (int, int, int) { return t.v[0], t.v[1], t.v[2] }
