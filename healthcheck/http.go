package healthcheck

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/gdirector/gdirector/config"
)

// userAgent is what the HTTP checks announce.
const userAgent = "gdirector-healthcheck"

// httpURL is one URL of an HTTP check, ready to run.
type httpURL struct {
	config.URLCheck
	re     *regexp.Regexp
	vhost  string       // the Host header: the URL's virtual host, else the check's; "" = the target
	client *http.Client // one per name verified (SSL_GET with VerifyTLS), else the check's
}

// httpProber is HTTP_GET and SSL_GET: every URL must answer with an
// accepted status and, where asked, a body with the digest, substring or
// regular expression.
type httpProber struct {
	scheme  string
	host    string // the URL's host: the target address and port
	urls    []httpURL
	clients []*http.Client
}

func newHTTPProber(s spec) (*httpProber, error) {
	c := &s.check
	if len(c.URLs) == 0 {
		return nil, errors.New("no url to check")
	}
	p := &httpProber{scheme: "http", host: s.target.String()}
	if c.Kind == config.CheckHTTPS {
		p.scheme = "https"
	}
	clients := map[string]*http.Client{}
	for _, u := range c.URLs {
		if !strings.HasPrefix(u.Path, "/") {
			return nil, fmt.Errorf("url path %q does not start with /", u.Path)
		}
		for _, st := range u.Status {
			if st < 100 || st > 599 {
				return nil, fmt.Errorf("url %s: status %d is not an HTTP status (100..599)", u.Path, st)
			}
		}
		if u.Digest != "" {
			if b, err := hex.DecodeString(u.Digest); err != nil || len(b) != md5.Size {
				return nil, fmt.Errorf("url %s: digest %q is not 32 hex digits (an MD5 sum)", u.Path, u.Digest)
			}
		}
		hu := httpURL{URLCheck: u, vhost: c.VirtualHost}
		if u.VirtualHost != "" {
			hu.vhost = u.VirtualHost
		}
		if u.Regexp != "" {
			re, err := regexp.Compile(u.Regexp)
			if err != nil {
				return nil, fmt.Errorf("url %s: %v", u.Path, err)
			}
			hu.re = re
		}
		// The name a verified certificate must have: the SNI name, else
		// the Host header the request is for.
		name := ""
		if c.Kind == config.CheckHTTPS && c.VerifyTLS && c.SNI == "" && hu.vhost != "" {
			name = hostOnly(hu.vhost)
		}
		if hu.client = clients[name]; hu.client == nil {
			hu.client = newHTTPClient(s, name)
			clients[name] = hu.client
			p.clients = append(p.clients, hu.client)
		}
		p.urls = append(p.urls, hu)
	}
	return p, nil
}

// newHTTPClient returns a client that connects to the check's target
// whatever the URL says; for SSL_GET with VerifyTLS and no SNI name,
// verify is the name the certificate must have ("" = the target address).
func newHTTPClient(s spec, verify string) *http.Client {
	c := &s.check
	d := dialer(c.BindTo, "tcp")
	target := s.target.String()
	tr := &http.Transport{
		Proxy: nil,
		// Whatever the URL says, connect to the target.
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", target)
		},
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	if c.Kind == config.CheckHTTPS {
		tr.TLSClientConfig = &tls.Config{
			ServerName:         c.SNI,
			InsecureSkipVerify: !c.VerifyTLS,
		}
		if verify != "" {
			tr.TLSClientConfig.ServerName = verify
		}
	}
	return &http.Client{
		Transport: tr,
		// A redirect is an answer to judge, not to follow (keepalived).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// hostOnly strips a port from a Host header value.
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return strings.Trim(h, "[]")
}

func (p *httpProber) probe(ctx context.Context) Result {
	for i := range p.urls {
		if err := p.get(ctx, &p.urls[i]); err != nil {
			return Result{Err: fmt.Errorf("GET %s: %w", p.urls[i].Path, err)}
		}
	}
	return Result{}
}

func (p *httpProber) get(ctx context.Context, u *httpURL) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.scheme+"://"+p.host+u.Path, nil)
	if err != nil {
		return err
	}
	if u.vhost != "" {
		req.Host = u.vhost
	}
	req.Header.Set("User-Agent", userAgent)
	req.Close = true
	resp, err := u.client.Do(req)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err // drop net/http's "Get URL:" prefix
		}
		return ctxErr(ctx, err)
	}
	defer resp.Body.Close()
	if !statusOK(resp.StatusCode, u.Status) {
		return fmt.Errorf("status %d, want %s", resp.StatusCode, wantStatus(u.Status))
	}
	if u.Digest == "" && u.Substring == "" && u.re == nil {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return ctxErr(ctx, fmt.Errorf("reading the body: %w", err))
	}
	if len(body) > maxBody {
		return fmt.Errorf("body longer than %d bytes", maxBody)
	}
	return matchBody(body, u)
}

// matchBody checks a body against the digest, substring and regexp.
func matchBody(body []byte, u *httpURL) error {
	if u.Digest != "" {
		sum := md5.Sum(body)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, u.Digest) {
			return fmt.Errorf("body digest %s, want %s", got, strings.ToLower(u.Digest))
		}
	}
	if u.Substring != "" && !strings.Contains(string(body), u.Substring) {
		return fmt.Errorf("body does not contain %q", u.Substring)
	}
	if u.re != nil && !u.re.Match(body) {
		return fmt.Errorf("body does not match %q", u.Regexp)
	}
	return nil
}

// statusOK reports whether code is accepted: one of want, or any 2xx when
// want is empty.
func statusOK(code int, want []int) bool {
	if len(want) == 0 {
		return code >= 200 && code <= 299
	}
	for _, w := range want {
		if code == w {
			return true
		}
	}
	return false
}

func wantStatus(want []int) string {
	if len(want) == 0 {
		return "200..299"
	}
	s := make([]string, len(want))
	for i, w := range want {
		s[i] = fmt.Sprint(w)
	}
	return strings.Join(s, " or ")
}

// close releases idle connections (there are none: keep-alives are off).
func (p *httpProber) close() {
	for _, c := range p.clients {
		c.CloseIdleConnections()
	}
}
