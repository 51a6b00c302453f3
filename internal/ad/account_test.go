package ad_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/adconfig"
)

// A rejected bind says what is wrong with the account and what fixes it,
// from the sub-code in Windows' diagnostic.
func TestBindFailureDecoded(t *testing.T) {
	for sub, want := range map[string]string{
		"52e": "the password is wrong",
		"532": "password has expired",
		"533": "account is disabled",
		"773": "must change its password",
		"775": "locked out",
	} {
		srv := ldaptest.Start(t, ldaptest.Options{})
		srv.SetBindFailure(sub)
		_, err := ad.Dial(t.Context(), adconfig.Options(srv.Config()))
		f, ok := ad.DecodeBindFailure(err)
		if !ok || f.SubCode != sub || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), f.Fix) {
			t.Errorf("data %s: err = %v (decoded %+v); want the reason %q and its fix", sub, err, f, want)
		}
	}
}

// toFileTime is the inverse of ad.FileTime.
func toFileTime(t time.Time) string {
	return strconv.FormatInt(t.UnixNano()/100+116444736000000000, 10)
}

func TestPasswordExpiry(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.Options{})
	cfg := srv.Config()
	c, err := ad.Dial(t.Context(), adconfig.Options(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in := time.Now().Add(10 * 24 * time.Hour).Truncate(time.Second).UTC()
	srv.Put(cfg.BindDN, map[string][]string{"objectClass": {"user"}, "userPrincipalName": {"admin@contoso.test"},
		"sAMAccountName": {"Administrator"}, "msDS-UserPasswordExpiryTimeComputed": {toFileTime(in)}})
	for _, name := range []string{cfg.BindDN, "admin@contoso.test", `CONTOSO\Administrator`} {
		at, never, known, err := c.PasswordExpiry(t.Context(), name)
		if err != nil || !known || never || !at.Equal(in) {
			t.Errorf("%s: %v never=%v known=%v err=%v; want %v", name, at, never, known, err, in)
		}
	}
	srv.Put(cfg.BindDN, map[string][]string{"objectClass": {"user"}, "msDS-UserPasswordExpiryTimeComputed": {"9223372036854775807"}})
	if _, never, known, err := c.PasswordExpiry(t.Context(), cfg.BindDN); err != nil || !known || !never {
		t.Errorf("never expires: never=%v known=%v err=%v", never, known, err)
	}
}
