package main

import (
	"context"
	"errors"
	"io"
)

// TODO(skeleton): replaced by the issue that builds this command.
func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented yet")
}
