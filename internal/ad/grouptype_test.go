package ad_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/ad/ldaptest"
	"github.com/writeback/writeback/internal/adconfig"
)

func TestGroupTypeSteps(t *testing.T) {
	for _, tc := range []struct {
		from, to int32
		want     []int32
	}{
		{ad.GroupTypeUniversalSecurity, ad.GroupTypeUniversalSecurity, nil},
		{ad.GroupTypeUniversalSecurity, ad.GroupTypeGlobalSecurity, []int32{ad.GroupTypeGlobalSecurity}},
		{ad.GroupTypeGlobalSecurity, ad.GroupTypeDomainLocalSecurity, []int32{ad.GroupTypeUniversalSecurity, ad.GroupTypeDomainLocalSecurity}},
		{ad.GroupTypeDomainLocalSecurity, ad.GroupTypeGlobalSecurity, []int32{ad.GroupTypeUniversalSecurity, ad.GroupTypeGlobalSecurity}},
		{ad.GroupTypeGlobalSecurity, ad.GroupTypeDomainLocalDistribution, []int32{ad.GroupTypeUniversalDistribution, ad.GroupTypeDomainLocalDistribution}},
		{ad.GroupTypeGlobalSecurity, ad.GroupTypeGlobalDistribution, []int32{ad.GroupTypeGlobalDistribution}},
	} {
		if got := ad.GroupTypeSteps(tc.from, tc.to); !slices.Equal(got, tc.want) {
			t.Errorf("GroupTypeSteps(%d, %d) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}

// ldaptest refuses conversions and nestings as Windows does (LDAP 53 with
// Win32 8517-8519, global <-> domain local only through universal), and
// ExplainGroupType says what the code means.
func TestLdaptestGroupTypeRules(t *testing.T) {
	srv := ldaptest.Start(t, ldaptest.Options{})
	gt := func(v int32) []string { return []string{strconv.Itoa(int(v))} }
	g, u, p := "CN=g,DC=contoso,DC=test", "CN=u,DC=contoso,DC=test", "CN=p,DC=contoso,DC=test"
	srv.Put(g, map[string][]string{"objectClass": {"group"}, "groupType": gt(ad.GroupTypeGlobalSecurity)})
	srv.Put(u, map[string][]string{"objectClass": {"group"}, "groupType": gt(ad.GroupTypeUniversalSecurity)})
	srv.Put(p, map[string][]string{"objectClass": {"group"}, "groupType": gt(ad.GroupTypeGlobalSecurity)})
	c, err := ad.Dial(t.Context(), adconfig.Options(srv.Config()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	set := func(dn string, v int32) error {
		return c.Modify(t.Context(), dn, map[string][]string{"groupType": gt(v)})
	}
	if err := set(g, ad.GroupTypeDomainLocalSecurity); ad.Code(err) != ad.CodeUnwillingToPerform {
		t.Errorf("global -> domain local directly: %v; want 53", err)
	}
	for _, step := range ad.GroupTypeSteps(ad.GroupTypeGlobalSecurity, ad.GroupTypeDomainLocalSecurity) {
		if err := set(g, step); err != nil {
			t.Fatalf("step to %d: %v", step, err)
		}
	}
	// a global group cannot get a universal member (8518)
	err = c.AddMembers(t.Context(), p, []string{u})
	if ad.Code(err) != ad.CodeUnwillingToPerform || !strings.Contains(ad.ExplainGroupType(err).Error(), "(8518)") {
		t.Errorf("universal into global: %v", err)
	}
	// a universal group cannot get a domain local member (8519)
	err = c.AddMembers(t.Context(), u, []string{g})
	if ad.Code(err) != ad.CodeUnwillingToPerform || !strings.Contains(ad.ExplainGroupType(err).Error(), "(8519)") {
		t.Errorf("domain local into universal: %v", err)
	}
	// a universal group with a universal member cannot become global (8518)
	u2 := "CN=u2,DC=contoso,DC=test"
	srv.Put(u2, map[string][]string{"objectClass": {"group"}, "groupType": gt(ad.GroupTypeUniversalSecurity), "member": {u}})
	if err := set(u2, ad.GroupTypeGlobalSecurity); !strings.Contains(ad.ExplainGroupType(err).Error(), "(8518)") {
		t.Errorf("universal with a universal member -> global: %v", err)
	}
}
