package healthcheck

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
)

// SMTP reply limits: a reply line is at most 512 bytes (RFC 5321 4.5.3.1.5);
// a little slack, and a bound on continuation lines.
const (
	maxSMTPLine  = 1024
	maxSMTPLines = 100
)

// smtpProber is SMTP_CHECK: the server's 220 greeting, HELO answered by
// 250, then QUIT.
type smtpProber struct {
	target netip.AddrPort
	bind   netip.Addr
	helo   string
}

func newSMTPProber(s spec) *smtpProber {
	helo := s.check.HELO
	if helo == "" {
		// keepalived's default helo_name is the host's name.
		if h, err := os.Hostname(); err == nil && h != "" {
			helo = h
		} else {
			helo = "localhost"
		}
	}
	return &smtpProber{target: s.target, bind: s.check.BindTo, helo: helo}
}

func (p *smtpProber) probe(ctx context.Context) Result {
	conn, err := dialer(p.bind, "tcp").DialContext(ctx, "tcp", p.target.String())
	if err != nil {
		return Result{Err: err}
	}
	defer conn.Close()
	stop := connDeadline(ctx, conn)
	defer stop()
	r := bufio.NewReaderSize(conn, maxSMTPLine)
	step := func(send string, want int) error {
		if send != "" {
			if _, err := io.WriteString(conn, send+"\r\n"); err != nil {
				return ctxErr(ctx, err)
			}
		}
		code, text, err := readSMTPReply(r)
		if err != nil {
			return ctxErr(ctx, err)
		}
		if code != want {
			return fmt.Errorf("%d %s", code, text)
		}
		return nil
	}
	if err := step("", 220); err != nil {
		return Result{Err: fmt.Errorf("greeting: %w", err)}
	}
	if err := step("HELO "+p.helo, 250); err != nil {
		return Result{Err: fmt.Errorf("HELO: %w", err)}
	}
	// The server has shown it works; how it answers QUIT does not matter.
	io.WriteString(conn, "QUIT\r\n")
	readSMTPReply(r)
	return Result{}
}

// readSMTPReply reads one reply, following "NNN-" continuation lines, and
// returns its code and the text of its last line.
func readSMTPReply(r *bufio.Reader) (code int, text string, err error) {
	for range maxSMTPLines {
		line, err := r.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return 0, "", errors.New("reply line too long")
			}
			if errors.Is(err, io.EOF) {
				return 0, "", errors.New("connection closed")
			}
			return 0, "", err
		}
		s := strings.TrimRight(string(line), "\r\n")
		c, sep, rest, ok := splitSMTPLine(s)
		if !ok {
			return 0, "", fmt.Errorf("malformed reply %q", s)
		}
		if code != 0 && c != code {
			return 0, "", fmt.Errorf("reply code changed from %d to %d within a reply", code, c)
		}
		code, text = c, rest
		if sep != '-' {
			return code, text, nil
		}
	}
	return 0, "", fmt.Errorf("reply longer than %d lines", maxSMTPLines)
}

// splitSMTPLine splits "250-text" or "250 text" (or a bare "250").
func splitSMTPLine(s string) (code int, sep byte, text string, ok bool) {
	if len(s) < 3 {
		return 0, 0, "", false
	}
	for i := range 3 {
		if s[i] < '0' || s[i] > '9' {
			return 0, 0, "", false
		}
		code = code*10 + int(s[i]-'0')
	}
	if code < 200 || code > 599 {
		return 0, 0, "", false
	}
	if len(s) == 3 {
		return code, ' ', "", true
	}
	if s[3] != ' ' && s[3] != '-' {
		return 0, 0, "", false
	}
	return code, s[3], s[4:], true
}
