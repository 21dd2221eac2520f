package keepalived

import "github.com/gdirector/gdirector/config"

// Parse reads keepalived.conf: data is the file at path ("" for text
// not read from a file; relative includes are then relative to the
// current directory). readFile reads the files it includes (nil:
// os.ReadFile). The result has Format config.FormatKeepalived; on error
// it is nil and the error names the file and line.
func Parse(path string, data []byte, readFile func(string) ([]byte, error)) (*config.Config, error) {
	r := newReader(readFile)
	if err := r.text(path, data); err != nil {
		return nil, err
	}
	p := &parser{items: r.items}
	if err := p.root(); err != nil {
		return nil, err
	}
	b := &builder{in: &p.out, out: &config.Config{Path: path, Format: config.FormatKeepalived}}
	if err := b.build(); err != nil {
		return nil, err
	}
	return b.out, nil
}
