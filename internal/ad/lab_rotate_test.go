package ad_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/lab/labtest"
)

// Against the lab's Samba DC: the bind password file changed to a wrong value
// gives LDAP 49 with a backoff at the next reconnect, and the right value
// written back reconnects without a new Dial (no restart).
func TestLabRotatedBindPassword(t *testing.T) {
	l := labtest.AD(t)
	defer ad.SetBindBackoff(500*time.Millisecond, 2*time.Second)()
	ctx := t.Context()
	right, err := l.Config.Password.Value("ad.password")
	if err != nil {
		t.Fatal(err)
	}
	cfg := l.Config
	cfg.Password = config.Secret{File: writeFile(t, right+"\n")}
	c, err := ad.Dial(ctx, adconfig.Options(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bindDN := l.Env["LAB_BIND_DN"]
	readSelf := func() error { _, err := c.SearchOne(ctx, bindDN, []string{"sAMAccountName"}); return err }
	if err := readSelf(); err != nil {
		t.Fatal(err)
	}

	os.WriteFile(cfg.Password.File, []byte("Wrong-Passw0rd\n"), 0o600)
	c.DropConnection() // as a DC restart would
	err = readSelf()
	var be *ad.BindRejectedError
	if !errors.As(err, &be) || ad.Code(err) != ad.CodeInvalidCredentials {
		t.Fatalf("read after the password file changed to a wrong value: %v, want LDAP 49 with a backoff", err)
	}
	for _, want := range []string{cfg.BindDN, cfg.Password.File, "binds next at"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := readSelf(); !errors.As(err, &be) || !be.Waiting {
		t.Errorf("read during the backoff: %v, want the backoff error without a bind", err)
	}

	os.WriteFile(cfg.Password.File, []byte(right+"\n"), 0o600)
	time.Sleep(time.Until(be.RetryAt) + 100*time.Millisecond)
	if err := readSelf(); err != nil {
		t.Fatalf("read after the right password was written back: %v", err)
	}
}
