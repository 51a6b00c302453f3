// Command writeback-lab runs writeback's test instruments, kept out of the
// production writeback binary: a throwaway Samba AD domain controller on
// loopback (writeback-lab up|down|reset|env|config|seed-users) and the
// Microsoft Graph emulator (writeback-lab emulator). See docs/lab.md and
// docs/emulator.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/writeback/writeback/internal/lab/labcli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := labcli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
