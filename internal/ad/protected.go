package ad

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// InChainOID is LDAP_MATCHING_RULE_IN_CHAIN: memberOf through any depth of
// nesting (Windows and Samba both implement it).
const InChainOID = "1.2.840.113556.1.4.1941"

// GroupSearcher is what NestedInProtected reads through (*Conn, or a
// caller's wrapper of it).
type GroupSearcher interface {
	Search(ctx context.Context, base string, scope Scope, filter string, attrs []string, fn func(*ldap.Entry) error) error
	Groups(ctx context.Context, base, filter string, q GroupQuery, fn func(Group) error) error
}

// NestedInProtected returns, by lower-case anchor, the anchored groups
// (Group_*) under base that are members, directly or through other groups,
// of a protected group of the domain: one with adminCount=1 that carries no
// Group_ anchor (Domain Admins, Administrators, Account Operators, Backup
// Operators, ... as SDProp marks them), with the reason. On Windows SDProp
// gives such a group AdminSDHolder's ACL within the hour (the delegation on
// the OU no longer applies), and Entra group owners would control Tier-0
// membership. One search for the protected groups, then one in-chain search
// per protected group: a dozen on a default domain.
func NestedInProtected(ctx context.Context, dir GroupSearcher, domain, base string) (map[string]string, error) {
	var roots []string
	err := dir.Search(ctx, domain, ScopeSubtree, "(&(objectCategory=group)(adminCount=1)(!("+AttrExternalDirectoryObjectID+"=Group_*)))", []string{"1.1"}, func(en *ldap.Entry) error {
		roots = append(roots, en.DN)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find the protected groups (adminCount=1) of the domain: %w", err)
	}
	out := map[string]string{}
	for _, root := range roots {
		f := "(&(" + AttrExternalDirectoryObjectID + "=Group_*)(memberOf:" + InChainOID + ":=" + EscapeFilter(root) + "))"
		err := dir.Groups(ctx, base, f, GroupQuery{}, func(g Group) error {
			k := strings.ToLower(g.Anchor)
			if _, seen := out[k]; !seen {
				out[k] = "nested in the protected group " + root + ": AdminSDHolder takes over its permissions and Entra group owners would control Tier-0 membership; remove it from that group"
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("find groups nested in the protected group %s: %w", root, err)
		}
	}
	return out, nil
}
