// Command gatehouse is Gatehouse's one binary:
//
//	gatehouse demo                 IdP + Store + Forums on loopback, seeded (see README)
//	gatehouse idp                  the identity server
//	gatehouse app store|forums     one example app against any IdP
//	gatehouse application create|list
//	gatehouse user create|list|password|deactivate|unlock
//	gatehouse registration create
//	gatehouse apikey create|list
//	gatehouse key rotate|rewrap
//
// Every flag has a GATEHOUSE_* environment variable (flag name upper-cased,
// dashes as underscores, e.g. --idp-addr → GATEHOUSE_IDP_ADDR); flags win.
// Admin commands work directly on the IdP's database (the same --db or
// --postgres as `gatehouse idp`).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand.
type command struct {
	name, usage string
	run         func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv carries what commands write to and read from, so tests can run
// them in-process.
type cliEnv struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

func commands() []command {
	return []command{
		{"idp", "serve the identity server", runIDP},
		{"demo", "run the IdP, Store and Forums on loopback with demo data", runDemo},
		{"app", "run one example app: app store|forums", runApp},
		{"application", "manage applications: application create|list", runApplication},
		{"user", "manage users: user create|list|password|deactivate|unlock", runUser},
		{"registration", "register a user for an application: registration create", runRegistration},
		{"apikey", "manage API keys: apikey create|list", runAPIKey},
		{"key", "manage signing keys: key rotate|rewrap", runKey},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &cliEnv{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	if err := run(ctx, env, os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gatehouse:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.stderr)
		return flag.ErrHelp
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	usage(env.stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: gatehouse <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.usage)
	}
	fmt.Fprintln(w, "\nRun 'gatehouse <command> -h' for a command's flags.")
}

// newFlagSet makes a command's flag set (errors returned, output to the
// CLI's stderr). Environment variables are applied by parse, not here.
func newFlagSet(env *cliEnv, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	return fs
}

// parse parses args after applying environment defaults.
func parse(env *cliEnv, fs *flag.FlagSet, args []string) error {
	var errs []string
	fs.VisitAll(func(f *flag.Flag) {
		key := "GATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := env.getenv(key); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", key, err))
			}
		}
	})
	if len(errs) > 0 {
		sort.Strings(errs)
		return errors.New(strings.Join(errs, "; "))
	}
	return fs.Parse(args)
}

// newLogger returns a JSON or text slog logger at the given level.
func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
