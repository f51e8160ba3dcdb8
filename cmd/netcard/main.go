// Command netcard runs a netcard smart card: the embedded demo (no
// arguments), a card on a serial link (serve), the host side of a link
// (host), card personalisation (init, cert, import-cert, status) and the
// benchmarks (bench).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// exit codes scripts can rely on.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // bad flags or arguments
)

type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) error
}

var commands []command

func init() {
	commands = []command{
		{"demo", "the embedded default: card + in-process host, HTTPS on 127.0.0.1:8443 (also: no arguments)", runDemo},
		{"serve", "run the card on a serial link", runServe},
		{"host", "run the host side of a link, bridged to a TUN device", runHost},
		{"init", "create and personalise a card image", runInit},
		{"cert", "print the card's public certificate (PEM)", runCert},
		{"import-cert", "import an issuer-signed certificate for the card's key", runImportCert},
		{"status", "show what a card image holds", runStatus},
		{"unblock", "at the card (image offline): unblock the PIN with the PUK, no network backoff", runUnblock},
		{"admin-secret", "at the card (image offline): draw a new admin bearer token and show it once", runAdminSecret},
		{"bench", "run the side-by-side measurements of BENCHMARKS.md", runBench},
	}
}

// usageError marks errors that come from bad flags or arguments.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	os.Exit(mainArgs(os.Args[1:], os.Stdout, os.Stderr))
}

func mainArgs(args []string, stdout, stderr io.Writer) int {
	name := "demo"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	if name == "help" || name == "-h" || name == "--help" {
		usage(stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		err := c.run(args, stdout, stderr)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.As(err, new(usageError)):
			fmt.Fprintf(stderr, "netcard %s: %v\n", name, err)
			return exitUsage
		default:
			fmt.Fprintf(stderr, "netcard %s: %v\n", name, err)
			return exitFailure
		}
	}
	fmt.Fprintf(stderr, "netcard: unknown command %q (try netcard help)\n", name)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: netcard [command] [flags]   (no command: the embedded demo)")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "netcard COMMAND -h shows the command's flags.")
}

// newFlags returns a flag set whose errors are returned, not printed twice.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("netcard "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses and turns flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// logFlags adds --log-level and --log-format and returns a constructor.
func logFlags(fs *flag.FlagSet) func(w io.Writer) (*slog.Logger, error) {
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", "text", "log format: text or json")
	return func(w io.Writer) (*slog.Logger, error) {
		var lv slog.Level
		if err := lv.UnmarshalText([]byte(*level)); err != nil {
			return nil, usageError{fmt.Errorf("bad --log-level %q", *level)}
		}
		opts := &slog.HandlerOptions{Level: lv}
		switch *format {
		case "text":
			return slog.New(slog.NewTextHandler(w, opts)), nil
		case "json":
			return slog.New(slog.NewJSONHandler(w, opts)), nil
		}
		return nil, usageError{fmt.Errorf("bad --log-format %q", *format)}
	}
}
