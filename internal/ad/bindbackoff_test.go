package ad_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/adconfig"
)

func TestBindBackoffSequence(t *testing.T) {
	var got []time.Duration
	d := time.Duration(0)
	for range 8 {
		d = ad.NextBindBackoff(d)
		got = append(got, d)
	}
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute, 15 * time.Minute}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoff sequence %v, want %v", got, want)
		}
	}
}

// The password is read from its file at each bind, a rejected password is
// not tried again until the backoff has passed (one bind per operation could
// lock the account), the error says what to fix and when writeback retries,
// and writing the right password back heals the connection without a restart.
func TestRotatedPasswordAndBindBackoff(t *testing.T) {
	defer ad.SetBindBackoff(300*time.Millisecond, time.Second)()
	srv := ldaptest.Start(t, ldaptest.Options{})
	cfg := srv.Config()
	right, _ := os.ReadFile(cfg.Password.File)
	c, err := ad.Dial(t.Context(), adconfig.Options(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	read := func() error { _, err := c.RootDSE(ctx); return err }
	os.WriteFile(cfg.Password.File, []byte("wrong\n"), 0o600)
	srv.DropConnections()

	err = read()
	var be *ad.BindRejectedError
	if !errors.As(err, &be) || !ad.IsInvalidCredentials(err) {
		t.Fatalf("operation after a redial with a wrong password: %v, want a BindRejectedError (LDAP 49)", err)
	}
	msg := err.Error()
	for _, want := range []string{"AD rejected the password of " + cfg.BindDN, cfg.Password.File, "binds next at"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	// More operations during the backoff do not bind.
	for range 10 {
		if err := read(); err == nil || !strings.Contains(err.Error(), "not binding again before") {
			t.Fatalf("operation during the backoff: %v", err)
		}
	}
	if n := srv.Stats().BindFailures; n != 1 {
		t.Errorf("%d rejected binds after 11 operations, want 1", n)
	}
	// After the backoff, the file is read again: still wrong, so the next
	// wait is longer.
	time.Sleep(350 * time.Millisecond)
	err = read()
	if !errors.As(err, &be) || be.Waiting || time.Until(be.RetryAt) < 400*time.Millisecond {
		t.Fatalf("second rejection: %v, want a new bind with a doubled backoff", err)
	}
	// The right password back in the file: reconnects once the backoff ends.
	os.WriteFile(cfg.Password.File, right, 0o600)
	time.Sleep(time.Until(be.RetryAt) + 50*time.Millisecond)
	if err := read(); err != nil {
		t.Fatalf("operation after the right password was written back: %v", err)
	}
	if st := srv.Stats(); st.BindFailures != 2 || st.Binds != 2 {
		t.Errorf("binds %d ok / %d rejected, want 2 / 2", st.Binds, st.BindFailures)
	}
	// A success resets the backoff: the next rejection waits the minimum.
	os.WriteFile(cfg.Password.File, []byte("wrong\n"), 0o600)
	srv.DropConnections()
	if err := read(); !errors.As(err, &be) || time.Until(be.RetryAt) > 300*time.Millisecond {
		t.Errorf("rejection after a success: %v, want the minimum backoff again", err)
	}
}

// A failed search names its filter, but a lookup filter of thousands of
// characters is cut: a round failing during a DC outage logged 7,844
// characters per line.
func TestLongFilterCutInErrors(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.Options{})
	c, err := ad.Dial(t.Context(), adconfig.Options(srv.Config()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var anchors []string
	for i := range 100 {
		anchors = append(anchors, "Group_00000000-0000-0000-0000-"+strings.Repeat("0", 9)+string(rune('a'+i%26))+"00")
	}
	filter := "(|(msDS-ExternalDirectoryObjectId=" + strings.Join(anchors, ")(msDS-ExternalDirectoryObjectId=") + "))"
	err = c.Search(t.Context(), "OU=Missing,DC=contoso,DC=test", ad.ScopeSubtree, filter, []string{"cn"}, func(*ldap.Entry) error { return nil })
	if err == nil {
		t.Fatal("search under a missing base succeeded")
	}
	if len(err.Error()) > 500 || !strings.Contains(err.Error(), "(|(msDS-ExternalDirectoryObjectId=Group_") || !strings.Contains(err.Error(), "characters)") {
		t.Errorf("error of %d characters (filter %d): %.600s", len(err.Error()), len(filter), err)
	}
}
