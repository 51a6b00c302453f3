package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// labBinary is the binary that carries the test instruments (the lab and the
// Graph emulator), which the production binary leaves out.
const labBinary = "writeback-lab"

// forwardToLab keeps 'writeback lab ...' and 'writeback emulator ...' working
// for scripts written before the instruments moved: it runs writeback-lab from
// beside this binary, or from PATH, with the same arguments.
func forwardToLab(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	exe, err := findLabBinary()
	if err != nil {
		return withExitCode(2, err)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return withExitCode(ee.ExitCode(), nil)
	}
	return err
}

func findLabBinary() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), labBinary)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(labBinary); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("the lab and the Graph emulator are test instruments in their own binary now: build it with 'go build -o bin/%s ./cmd/%s' and run '%s ...'", labBinary, labBinary, labBinary)
}

func runLab(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return forwardToLab(ctx, append([]string{"lab"}, args...), stdout, stderr)
}

func runEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return forwardToLab(ctx, append([]string{"emulator"}, args...), stdout, stderr)
}
