package commands

import (
	"fmt"
	"strings"
	"time"

	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

var cmdOutdated = &command{
	Name:    "outdated",
	Summary: "the services whose checkout is behind its tracked branch, with the commits an update would bring",
	Run: func(ce *Event, _ []string) outcome {
		all := ce.Meta.Fleet.DriftAll(ce.Ctx)
		return outcome{Reply: outdatedReport(all, time.Now()), Result: store.ResultOK}
	},
}

// outdatedReport is !outdated: each service that is behind with the commits
// it lacks, then the ones whose drift could not be read; or that all are current.
func outdatedReport(all []ops.Drift, now time.Time) string {
	if len(all) == 0 {
		return "No service has a checkout with a tracked branch: `!outdated` reads compose services (and services with a directory and `git_branch`)."
	}
	var behind, unknown []ops.Drift
	for _, d := range all {
		switch {
		case d.Err != nil:
			unknown = append(unknown, d)
		case d.Behind > 0:
			behind = append(behind, d)
		}
	}
	var b strings.Builder
	if len(behind) == 0 && len(unknown) == 0 {
		fmt.Fprintf(&b, "✅ Everything is current: %d %s checked, none behind its tracked branch.", len(all), ops.Plural(len(all), "service", "services"))
		return b.String()
	}
	if len(behind) == 0 {
		fmt.Fprintf(&b, "✅ None of the services read is behind its tracked branch.\n\n")
	} else {
		fmt.Fprintf(&b, "📦 %d of %d %s %s:\n\n", len(behind), len(all), ops.Plural(len(all), "service", "services"),
			ops.Plural(len(behind), "is behind its tracked branch", "are behind their tracked branches"))
		for _, d := range behind {
			b.WriteString(driftEntry(d, now) + "\n")
		}
		fmt.Fprintf(&b, "%s brings one up to date.\n", code(Prefix+"update SERVICE"))
	}
	if len(unknown) > 0 {
		b.WriteString("\nCould not read:\n")
		for _, d := range unknown {
			fmt.Fprintf(&b, "- **%s**: %s\n", escape(d.Service), escape(clip(d.Err.Error(), maxReasonRunes)))
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// driftEntry is a service that is behind, as !outdated and the digest list
// it: a line saying how far, then its commits, newest first.
func driftEntry(d ops.Drift, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** on %s: %s\n", escape(d.Service), code(d.Host), driftText(d, now))
	for _, l := range d.Log {
		hash, subject, _ := strings.Cut(l, " ")
		fmt.Fprintf(&b, "- %s %s\n", code(hash), escape(clip(subject, 200)))
	}
	if more := d.Behind - len(d.Log); more > 0 {
		fmt.Fprintf(&b, "- and %d more\n", more)
	}
	return b.String()
}

// driftText says in a line how far a checkout is from its tracked branch:
// "2 commits behind origin/master (`3f2a1c0` → `9b7d4e2`), fetched 5 min ago".
func driftText(d ops.Drift, now time.Time) string {
	if d.Err != nil {
		return "unknown: " + escape(clip(d.Err.Error(), maxReasonRunes))
	}
	ref := escape(d.Ref())
	var s string
	if d.Behind == 0 {
		s = "up to date with " + ref
	} else {
		s = fmt.Sprintf("%d %s behind %s (%s → %s)", d.Behind, ops.Plural(d.Behind, "commit", "commits"), ref,
			code(ops.ShortCommit(d.Head)), code(ops.ShortCommit(d.Tip)))
	}
	if d.Ahead > 0 {
		s += fmt.Sprintf("; %d local %s not on %s, which an update discards", d.Ahead, ops.Plural(d.Ahead, "commit", "commits"), ref)
	}
	switch {
	case d.FetchErr != nil && d.FetchedAt.IsZero():
		s += "; as of an earlier fetch, as fetching now failed: " + escape(clip(d.FetchErr.Error(), maxReasonRunes))
	case d.FetchErr != nil:
		s += fmt.Sprintf("; as of the fetch %s ago, as fetching now failed: %s", ago(now.Sub(d.FetchedAt)), escape(clip(d.FetchErr.Error(), maxReasonRunes)))
	case !d.FetchedAt.IsZero() && now.Sub(d.FetchedAt) >= time.Minute:
		s += fmt.Sprintf(", fetched %s ago", ago(now.Sub(d.FetchedAt)))
	}
	return s
}
