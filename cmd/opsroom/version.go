package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Set at build time with -ldflags "-X main.version=... -X main.revision=...
// -X main.buildTime=2006-01-02T15:04:05Z", as the Dockerfile does (its build
// context has no .git for Go to read). Left empty, -version reads what Go
// records in every build from a git checkout.
var (
	version   string
	revision  string
	buildTime string
)

// buildInfo is what -version prints and the start-up log line carries.
type buildInfo struct {
	Version   string
	Revision  string // "unknown" when neither the build nor -ldflags recorded it
	Modified  bool   // built with uncommitted changes
	Committed time.Time
	Built     time.Time
	// BuiltFromFile says Built is the binary's file time, since the build did not record it.
	BuiltFromFile bool
	Go            string // the Go version, tags and cgo setting
}

// readBuildInfo combines the -ldflags values with what Go recorded in the
// binary, and falls back to the executable's file time for the build time,
// which `go build` does not record.
func readBuildInfo() buildInfo {
	info, _ := debug.ReadBuildInfo()
	bi := fromBuildInfo(info, version, revision, buildTime)
	if bi.Built.IsZero() {
		if exe, err := os.Executable(); err == nil {
			if st, err := os.Stat(exe); err == nil {
				bi.Built, bi.BuiltFromFile = st.ModTime().UTC(), true
			}
		}
	}
	return bi
}

func fromBuildInfo(info *debug.BuildInfo, version, revision, builtAt string) buildInfo {
	bi := buildInfo{Version: version, Revision: revision, Go: runtime.Version()}
	settings := map[string]string{}
	if info != nil {
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
		if bi.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			// go install ...@v1.2.3, or the pseudo-version Go derives from the checkout.
			bi.Version = info.Main.Version
		}
		if info.GoVersion != "" {
			bi.Go = info.GoVersion
		}
	}
	if bi.Version == "" {
		bi.Version = "dev"
	}
	if bi.Revision == "" {
		bi.Revision = settings["vcs.revision"]
		bi.Modified = settings["vcs.modified"] == "true"
	}
	if bi.Revision == "" {
		bi.Revision = "unknown"
	}
	bi.Committed, _ = time.Parse(time.RFC3339, settings["vcs.time"])
	bi.Built, _ = time.Parse(time.RFC3339, builtAt)
	bi.Go += " " + runtime.GOOS + "/" + runtime.GOARCH
	if tags := settings["-tags"]; tags != "" {
		bi.Go += ", tags " + tags
	}
	if cgo, ok := settings["CGO_ENABLED"]; ok {
		bi.Go += ", CGO_ENABLED=" + cgo
	}
	return bi
}

// String is the -version output: the version on the first line, then one
// line each for the revision, the commit time, the build time and Go.
func (bi buildInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "opsroom %s\n", bi.Version)
	rev := bi.Revision
	if bi.Modified {
		rev += " (with uncommitted changes)"
	}
	fmt.Fprintf(&b, "revision:  %s\n", rev)
	fmt.Fprintf(&b, "committed: %s\n", timeOrUnknown(bi.Committed))
	built := timeOrUnknown(bi.Built)
	if bi.BuiltFromFile {
		built += " (the binary's file time: this build did not record its time)"
	}
	fmt.Fprintf(&b, "built:     %s\n", built)
	fmt.Fprintf(&b, "go:        %s\n", bi.Go)
	return b.String()
}

func timeOrUnknown(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format(time.RFC3339)
}
