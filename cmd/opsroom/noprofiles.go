//go:build !pprof

package main

import "context"

// serveProfiles does nothing: only a build with the pprof tag serves Go's
// profiles (pprof.go).
func serveProfiles(context.Context) error { return nil }
