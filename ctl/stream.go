package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"
)

// StreamHandler runs a streaming command (gdirector trace): after the one
// request line it sends any number of values with send, one JSON line
// each, until it returns or ctx ends; ctx ends when the client closes its
// side of the connection or the server stops. What it returns ends the
// stream (StreamLine.End). send fails once the client is gone.
type StreamHandler func(ctx context.Context, argv []string, send func(v any) error) (stderr string, code int)

// StreamLine is one line of a streaming command's answer: a value the
// handler sent (Data), or, last, the command's end (End: its standard
// error and exit status, as a Response).
type StreamLine struct {
	Data json.RawMessage `json:"data,omitempty"`
	End  *Response       `json:"end,omitempty"`
}

// serveStream answers req with the stream h produces. The connection
// carries nothing else afterwards: the client's next byte, or its close,
// ends the stream.
func serveStream(c net.Conn, r *bufio.Reader, h StreamHandler, req Request) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.SetReadDeadline(time.Time{})
	go func() {
		r.ReadByte() // blocks until the client sends or closes, or c is closed
		cancel()
	}()
	enc := json.NewEncoder(c)
	send := func(v any) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		c.SetWriteDeadline(time.Now().Add(idleTimeout))
		if err := enc.Encode(StreamLine{Data: raw}); err != nil {
			cancel()
			return err
		}
		return nil
	}
	resp := callStream(ctx, h, req.Argv, send)
	c.SetWriteDeadline(time.Now().Add(idleTimeout))
	enc.Encode(StreamLine{End: &resp})
}

func callStream(ctx context.Context, h StreamHandler, argv []string, send func(any) error) (resp Response) {
	defer recoverResponse(&resp)
	resp.Stderr, resp.Code = h(ctx, argv, send)
	return resp
}

// ErrStreamEnded is returned by Stream when the daemon closed the
// connection before the end line.
var ErrStreamEnded = errors.New("ctl: stream ended without its end line")

// Stream sends a streaming command's request to the daemon listening at
// path and calls each with every value it sends, until the end line,
// whose Response it returns. Cancelling ctx closes the connection (which
// ends the command on the daemon) and returns ctx's error; so does an
// error from each. Only connecting is bounded in time.
func Stream(ctx context.Context, path string, req Request, each func(data json.RawMessage) error) (Response, error) {
	c, err := net.DialTimeout("unix", path, dialTimeout)
	if err != nil {
		return Response{}, fmt.Errorf("ctl: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if req.Argv == nil {
		req.Argv = []string{}
	}
	c.SetWriteDeadline(time.Now().Add(CallTimeout))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return Response{}, fmt.Errorf("ctl: send: %w", err)
	}
	r := bufio.NewReaderSize(c, 64<<10)
	for {
		line, err := readLine(r)
		if err != nil {
			if ctx.Err() != nil {
				return Response{}, ctx.Err()
			}
			return Response{}, fmt.Errorf("%w: %v", ErrStreamEnded, err)
		}
		var sl StreamLine
		if err := json.Unmarshal(line, &sl); err != nil {
			// A plain Response: the daemon refused the request (an
			// unknown command, a malformed request).
			var resp Response
			if json.Unmarshal(line, &resp) == nil {
				return resp, nil
			}
			return Response{}, fmt.Errorf("ctl: bad stream line: %w", err)
		}
		switch {
		case sl.End != nil:
			return *sl.End, nil
		case sl.Data != nil:
			if err := each(sl.Data); err != nil {
				return Response{}, err
			}
		default:
			// A plain Response decodes as an empty StreamLine.
			var resp Response
			if err := json.Unmarshal(line, &resp); err != nil {
				return Response{}, fmt.Errorf("ctl: bad stream line: %w", err)
			}
			return resp, nil
		}
	}
}
