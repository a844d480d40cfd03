package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/switchboard-cc/switchboard/internal/app"
	"github.com/switchboard-cc/switchboard/internal/bench"
	"github.com/switchboard-cc/switchboard/internal/sim"
	"github.com/switchboard-cc/switchboard/internal/stats"
	"github.com/switchboard-cc/switchboard/internal/tail"
	"github.com/switchboard-cc/switchboard/internal/verify"
)

const usage = `switchboard: a contact-centre voice switch core streaming T-Library events to Kafka.

Usage:
  switchboard serve [flags]    run the server (switchboard serve --help)
  switchboard tail [flags]     print the events of the Kafka topics (switchboard tail --help)
  switchboard sim [flags]      simulate a contact-centre day against a switchboard (switchboard sim --help)
  switchboard stats [flags]    serve today's statistics computed from the Kafka topics (switchboard stats --help)
  switchboard verify [flags]   check the Kafka topics against the event contract (switchboard verify --help)
  switchboard bench [flags]    run the benchmark suite and print a table (switchboard bench --help)
  switchboard hash-token       print the hash of API tokens read from stdin, for token-hashes (--new: make one)
  switchboard version          print the version
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		cfg, err := app.ParseFlags(rest, os.Getenv, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		} else if err != nil {
			fmt.Fprintln(stderr, "switchboard serve:", err)
			return 2
		}
		if err := (app.Main{Config: cfg, Stdout: stdout, Stderr: stderr}).Run(ctx); err != nil {
			fmt.Fprintln(stderr, "switchboard serve:", err)
			return 1
		}
		return 0
	case "tail":
		return tail.Main(ctx, rest, stdout, stderr)
	case "sim":
		return sim.Main(ctx, rest, stdout, stderr)
	case "stats":
		return stats.Main(ctx, rest, stdout, stderr)
	case "verify":
		return verify.Main(ctx, rest, stdout, stderr)
	case "bench":
		return bench.Main(ctx, rest, stdout, stderr)
	case "hash-token":
		err := app.HashToken(rest, os.Stdin, stdout)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		} else if err != nil {
			fmt.Fprintln(stderr, "switchboard hash-token:", err)
			return 2
		}
		return 0
	case "version":
		if len(rest) > 0 {
			fmt.Fprint(stdout, "Usage: switchboard version\n\nPrints the module version and the Go version it was built with.\n")
			return 0
		}
		version, goVersion := "(unknown)", "(unknown)"
		if bi, ok := debug.ReadBuildInfo(); ok {
			version, goVersion = bi.Main.Version, bi.GoVersion
		}
		fmt.Fprintf(stdout, "switchboard %s %s\n", version, goVersion)
		return 0
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "switchboard: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}
