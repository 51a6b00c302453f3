package lab

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

//go:embed seed-users.py
var seedScript []byte

// Seed says which users SeedUsers creates: CN=<Prefix><i>,<OU> with
// displayName <Prefix><i>, sAMAccountName <SAMPrefix><i> and userPrincipalName
// <SAMPrefix><i>@<DNS domain>, disabled, for From <= i < To.
type Seed struct {
	OU        string // created when missing
	Prefix    string
	SAMPrefix string // sAMAccountName must be unique in the domain and at most 20 characters
	// Digits zero-pads i to this many digits (0: no padding), e.g. 7 for
	// "Bench User 0000042" / "bu0000042".
	Digits   int
	From, To int
}

// SeedUsers adds many users to the instance far faster than LDAP can (Samba
// takes ~7-10 ms of CPU per LDAP add; on a busy machine 20-150 adds/s; this,
// ~2,000 users/s at any domain size: 270,000 in about 2 minutes): it
// stops the instance's Samba, writes the users straight into its database
// with seed-users.py (Debian's python3-samba: the first user through Samba's
// own module stack, the rest clones of it with their own objectGUID,
// objectSid, USN and names), and starts Samba again, also when seeding failed.
//
// Stopping Samba breaks whoever else is using the instance at that moment:
// seed a lab of your own (WRITEBACK_LAB_DIR, WRITEBACK_LAB_ADDR), not the one
// a test run is using. Read the users back over LDAP afterwards for their
// GUIDs and SIDs.
func SeedUsers(ctx context.Context, o Options, s Seed) error {
	o = o.withDefaults()
	if s.To <= s.From || s.From < 0 {
		return fmt.Errorf("seed users: empty range %d..%d", s.From, s.To)
	}
	if s.Digits < 0 || s.Digits > 10 {
		return fmt.Errorf("seed users: %d digits: want 0 to 10", s.Digits)
	}
	if n := len(s.SAMPrefix) + max(s.Digits, len(strconv.Itoa(s.To-1))); n > 20 {
		return fmt.Errorf("seed users: sAMAccountName %q + index is %d characters, AD allows 20: use a shorter prefix", s.SAMPrefix, n)
	}
	if s.OU == "" || s.Prefix == "" || s.SAMPrefix == "" {
		return errors.New("seed users: OU, Prefix and SAMPrefix are required")
	}
	// the script puts Prefix into the DN as is
	if strings.ContainsAny(s.Prefix, `,+"\<>;=#`) || strings.HasPrefix(s.Prefix, " ") {
		return fmt.Errorf("seed users: prefix %q: leave out , + \" \\ < > ; = # and leading spaces", s.Prefix)
	}
	if _, err := Running(o); err != nil {
		return fmt.Errorf("seed users: %w", err)
	}
	py := "/usr/bin/python3" // Debian's python3-samba is built for the system interpreter
	if _, err := os.Stat(py); err != nil {
		py = "python3"
	}
	path := filepath.Join(o.Dir, "seed-users.py")
	if err := os.WriteFile(path, seedScript, 0o755); err != nil {
		return fmt.Errorf("seed users: write script: %w", err)
	}
	unlock, err := lock(ctx, o)
	if err != nil {
		return err
	}
	defer unlock()
	if err := run(ctx, o, "stop"); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, py, path, filepath.Join(o.InstanceDir(), "etc", "smb.conf"),
		s.OU, s.Prefix, s.SAMPrefix, strconv.Itoa(s.From), strconv.Itoa(s.To), strconv.Itoa(s.Digits))
	var stderr bytes.Buffer
	cmd.Stdout = io.Discard
	cmd.Stderr = io.MultiWriter(o.Log, &stderr)
	cmd.WaitDelay = 5 * time.Second
	seedErr := cmd.Run()
	if seedErr != nil {
		seedErr = fmt.Errorf("seed users %d..%d into %s: %w: %s", s.From, s.To, s.OU, seedErr, lastLines(stderr.String(), 10))
	}
	// start again whatever happened: a seed that failed rolled its transaction back
	startCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	if err := run(startCtx, o, "start"); err != nil {
		return errors.Join(seedErr, err)
	}
	return seedErr
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
