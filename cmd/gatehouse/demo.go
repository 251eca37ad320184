package main

import (
	"context"
	"errors"
)

// runDemo is written in the Store/Forums/demo issue.
func runDemo(ctx context.Context, env *cliEnv, args []string) error {
	return errors.New("demo: not yet available")
}

// runApp is written in the Store/Forums/demo issue.
func runApp(ctx context.Context, env *cliEnv, args []string) error {
	return errors.New("app: not yet available")
}
