package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/rs/zerolog"

	"github.com/opsroom/opsroom/ops"
)

// connectCheck is -check-config -connect: the preflight of every host and
// service (what !check all shows), printed as one table; an error when a
// check failed.
func connectCheck(cfg *Config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fleet, err := ops.NewFleet(&cfg.Fleet)
	if err != nil {
		return err
	}
	defer fleet.Close()
	checks, err := fleet.Preflight(ctx)
	if err != nil {
		return err
	}
	failed := printPreflight(os.Stdout, checks)
	if failed > 0 {
		return fmt.Errorf("preflight: %d of %d checks failed (listed above)", failed, len(checks))
	}
	fmt.Fprintf(os.Stderr, "preflight: all %d checks passed\n", len(checks))
	return nil
}

// printPreflight writes the checks as a table: host, service, check, ✅/❌,
// and what was found or why it failed. It returns how many failed.
func printPreflight(out io.Writer, checks []ops.Check) (failed int) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSERVICE\tCHECK\t\tRESULT")
	for _, c := range checks {
		mark, service := "✅", "—"
		if !c.OK {
			mark = "❌"
			failed++
		}
		if c.Service != "" {
			service = c.Service
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Host, service, c.Name, mark, c.Detail)
	}
	_ = tw.Flush()
	return failed
}

// startupPreflight runs the preflight once at start, beside everything else
// (readiness never waits for it), and logs each failed check: !status shows
// the services concerned until a later preflight or probe says otherwise.
func startupPreflight(ctx context.Context, fleet *ops.Fleet) {
	log := zerolog.Ctx(ctx)
	checks, err := fleet.Preflight(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Err(err).Msg("Preflight failed to run")
		}
		return
	}
	failed := 0
	for _, c := range checks {
		if c.OK {
			continue
		}
		failed++
		log.Warn().Str("host", c.Host).Str("service", c.Service).Str("check", c.Name).
			Str("error", c.Detail).Msg("Preflight check failed")
	}
	log.Info().Int("checks", len(checks)).Int("failed", failed).Msg("Preflight done")
}
