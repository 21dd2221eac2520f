package ctl

import (
	"encoding/json"
	"errors"
	"fmt"
)

// MaxRequest is the longest request line the daemon reads: the JSON of a
// Request, its Input (the rules of ipvsadm -R) included, and the newline.
// The daemon answers a longer line with an error and closes the
// connection, so clients check with CheckSize before sending.
const MaxRequest = maxLine

// ErrRequestTooLarge is CheckSize's error.
var ErrRequestTooLarge = errors.New("request too large for the control socket")

// CheckSize returns an error wrapping ErrRequestTooLarge when req does not
// fit in one request line (MaxRequest bytes).
func CheckSize(req Request) error {
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("ctl: %w", err)
	}
	if n := len(b) + 1; n > MaxRequest {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrRequestTooLarge, n, MaxRequest)
	}
	return nil
}
