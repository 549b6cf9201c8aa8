package main

import (
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// newLogger is opsroom's root logger, writing to stderr: JSON lines with
// `log.format: json`, for log shippers; otherwise console lines, coloured
// only when stderr is a terminal, so a log file or the journal gets no escape
// codes.
func newLogger(cfg LogConfig) zerolog.Logger {
	return newLoggerTo(cfg, os.Stderr, colourFor(os.Stderr))
}

func newLoggerTo(cfg LogConfig, out io.Writer, colour bool) zerolog.Logger {
	level, _ := zerolog.ParseLevel(cfg.Level)
	var log zerolog.Logger
	if cfg.Format == "json" {
		// Milliseconds: what happened first, among a kill, a probe and an alert, matters.
		zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000Z07:00"
		log = zerolog.New(out)
	} else {
		log = zerolog.New(zerolog.ConsoleWriter{Out: out, TimeFormat: time.DateTime, NoColor: !colour})
	}
	return log.Level(level).With().Timestamp().Logger()
}

// colourFor says whether console lines written to f may be coloured: only on
// a terminal, and not when NO_COLOR is set (https://no-color.org).
func colourFor(f *os.File) bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	return isatty.IsTerminal(f.Fd())
}
