package preflight

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/config"
)

// check warns when the bind account's password expires within 14 days.
func TestPasswordExpiryWarning(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.Options{})
	cfg := srv.Config()
	dc, err := ad.Dial(context.Background(), adconfig.Options(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	e := &Env{Config: &config.Config{AD: cfg}, DC: dc, Values: map[string]any{}}
	set := func(v string) {
		srv.Put(cfg.BindDN, map[string][]string{"objectClass": {"user"}, "msDS-UserPasswordExpiryTimeComputed": {v}})
	}
	ft := func(d time.Duration) string {
		return strconv.FormatInt(time.Now().Add(d).UnixNano()/100+116444736000000000, 10)
	}
	for _, tc := range []struct {
		val    string
		status Status
		detail string
	}{
		{ft(3 * 24 * time.Hour), Warn, "expires"},
		{ft(13 * 24 * time.Hour), Warn, "data 532"},
		{ft(40 * 24 * time.Hour), OK, "expires"},
		{"9223372036854775807", OK, "does not expire"},
	} {
		set(tc.val)
		r := checkPasswordExpiry(context.Background(), e)
		if r.Status != tc.status || !strings.Contains(r.Detail, tc.detail) {
			t.Errorf("expiry %s: %s %q (fix %q); want %s mentioning %q", tc.val, r.Status, r.Detail, r.Fix, tc.status, tc.detail)
		}
		if r.Status == Warn && !strings.Contains(r.Fix, "ad.password") {
			t.Errorf("warning without the secret to update: %q", r.Fix)
		}
	}
}

// A locked-out or expired account is named as such, with its fix, not as a
// wrong password.
func TestBindFailureFix(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.Options{})
	srv.SetBindFailure("775")
	cfg := srv.Config()
	_, err := ad.Dial(context.Background(), adconfig.Options(cfg))
	e := &Env{Config: &config.Config{AD: cfg}, Values: map[string]any{dialErrorValue: err}}
	r := checkBind(context.Background(), e)
	if r.Status != Fail || !strings.Contains(r.Detail, "locked out") || !strings.Contains(r.Fix, "unlock") {
		t.Errorf("locked out: %s %q fix %q", r.Status, r.Detail, r.Fix)
	}
}
