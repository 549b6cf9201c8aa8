//go:build pprof

package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/rs/zerolog"
)

// serveProfiles serves Go's profiles on OPSROOM_PPROF (host:port) until ctx
// ends, in a binary built with the pprof tag: the fleet benchmark profiles
// opsroom itself with it (OPSROOM_TEST_PPROF). A release build has no such
// listener (noprofiles.go).
func serveProfiles(ctx context.Context) error {
	addr := os.Getenv("OPSROOM_PPROF")
	if addr == "" {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	zerolog.Ctx(ctx).Info().Str("address", addr).Msg("Serving Go's profiles (a pprof build)")
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving OPSROOM_PPROF %s: %w", addr, err)
	}
	return nil
}
