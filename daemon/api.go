package daemon

import (
	"context"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/httpapi"
)

// listenAPI opens the remote API's socket and loads its certificate, key
// and token when opt asks for the API (any of its settings given), before
// Run changes anything on the host; nil when the API is off.
func listenAPI(opt Options, logf func(string, ...any)) (*httpapi.Server, error) {
	if !opt.API.Enabled() {
		return nil, nil
	}
	cfg := opt.API
	if cfg.Logf == nil {
		cfg.Logf = logf
	}
	return httpapi.Listen(cfg)
}

// serveAPI serves the remote API (if api is not nil) with the same
// commands as the control socket until ctx ends. A failure of the server
// calls stop, which ends the daemon. wait stops the server (stop again)
// and returns its error.
func serveAPI(ctx context.Context, stop func(), api *httpapi.Server, mgr *ctl.Manager, mux *ctl.Mux, logf func(string, ...any)) (wait func() error) {
	if api == nil {
		return func() error { return nil }
	}
	done := make(chan error, 1)
	go func() {
		err := api.Serve(ctx, mgr, mux)
		if err != nil {
			stop()
		}
		done <- err
	}()
	logf("gdirector: remote API on https://%s", api.Addr())
	return func() error {
		stop()
		return <-done
	}
}
