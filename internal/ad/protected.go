package ad

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
	"github.com/writeback/writeback/internal/ldapdn"
)

// InChainOID is LDAP_MATCHING_RULE_IN_CHAIN: memberOf through any depth of
// nesting (Windows and Samba both implement it).
const InChainOID = "1.2.840.113556.1.4.1941"

// Searcher is the search that the walks of this package (protected
// nesting, group-type checks) read through: *Conn, or a caller's wrapper of
// it that counts them.
type Searcher interface {
	Search(ctx context.Context, base string, scope Scope, filter string, attrs []string, fn func(*ldap.Entry) error) error
}

// protectedBatch is how many groups one memberOf OR filter names while
// walking down from the protected groups.
const protectedBatch = 200

// protectedRootsFilter finds the protected groups of the domain: SDProp marks
// them adminCount=1; one that carries a Group_ anchor is writeback's own group
// (protected by that mark itself), not a root of nesting.
const protectedRootsFilter = "(&(objectCategory=group)(adminCount=1)(!(" + AttrExternalDirectoryObjectID + "=Group_*)))"

// NestedInProtected returns, by lower-case anchor, the anchored groups
// (Group_*) under base that are members, directly or through other groups,
// of a protected group of the domain: one with adminCount=1 that carries no
// Group_ anchor (Domain Admins, Administrators, Account Operators, Backup
// Operators, ... as SDProp marks them), with the reason. On Windows SDProp
// gives such a group AdminSDHolder's ACL within the hour (the delegation on
// the OU no longer applies), and Entra group owners would control Tier-0
// membership.
//
// It runs every round that reads groups, so its cost must not grow with the
// number of groups writeback owns: one search for the protected groups, then
// a walk down the nesting, one search per level of groups nested in them
// (memberOf=<group> ORed, 200 groups a search), typically two or three
// searches in all. Asking the DC instead, per protected group, for the
// groups under base that are transitively in it (memberOf in-chain) makes it
// evaluate the chain of every owned group once per protected group: about a
// second per round on a 12-protected-group lab domain with 300 groups. The
// walk is that in-chain search done once, from the other end.
func NestedInProtected(ctx context.Context, dir Searcher, domain, base string) (map[string]string, error) {
	var roots []string
	err := dir.Search(ctx, domain, ScopeSubtree, protectedRootsFilter, []string{"1.1"}, func(en *ldap.Entry) error {
		roots = append(roots, en.DN)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find the protected groups (adminCount=1) of the domain: %w", err)
	}
	out := map[string]string{}
	if len(roots) == 0 {
		return out, nil
	}
	w := nestingWalk{index: map[string]int{}}
	for _, r := range roots {
		w.node(r, "")
	}
	complete, err := w.run(ctx, dir, domain, len(roots))
	if err != nil {
		return nil, err
	}
	if !complete {
		// A memberOf value list came back cut into ranges (a group in more
		// than 1,500 groups): the walk knows every nested group but not every
		// path, so ask the DC which protected group each is in.
		return nestedInProtectedInChain(ctx, dir, roots, base)
	}
	nb := ldapdn.Norm(base)
	// The same reason, naming the same protected group, as the in-chain
	// search per protected group in the order the DC returned them.
	for ri := range roots {
		seen := map[int]bool{ri: true}
		stack := []int{ri}
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, c := range w.children[n] {
				if seen[c] {
					continue
				}
				seen[c] = true
				stack = append(stack, c)
				g := w.nodes[c]
				k := strings.ToLower(g.anchor)
				if !strings.HasPrefix(k, "group_") || !within(g.norm, nb) {
					continue
				}
				if _, done := out[k]; !done {
					out[k] = nestedReason(roots[ri])
				}
			}
		}
	}
	return out, nil
}

func nestedReason(root string) string {
	return "nested in the protected group " + root + ": AdminSDHolder takes over its permissions and Entra group owners would control Tier-0 membership; remove it from that group"
}

// within reports whether the normalized DN dn is base or below it.
func within(dn, base string) bool {
	return base == "" || dn == base || strings.HasSuffix(dn, ","+base)
}

// nestingWalk is the graph of groups reachable downwards from the
// protected groups (nodes 0..roots-1).
type nestingWalk struct {
	nodes    []walkNode
	index    map[string]int // normalized DN -> node
	children map[int][]int
}

type walkNode struct{ dn, norm, anchor string }

func (w *nestingWalk) node(dn, anchor string) (int, bool) {
	k := ldapdn.Norm(dn)
	if i, ok := w.index[k]; ok {
		return i, false
	}
	w.nodes = append(w.nodes, walkNode{dn: dn, norm: k, anchor: anchor})
	w.index[k] = len(w.nodes) - 1
	return len(w.nodes) - 1, true
}

// run walks down from the first n nodes, a level at a time, recording which
// group is a direct member of which. It reports false when a result's
// memberOf was incomplete (ranged), so an edge may be missing.
func (w *nestingWalk) run(ctx context.Context, dir Searcher, domain string, n int) (bool, error) {
	w.children = map[int][]int{}
	frontier := make([]int, n)
	for i := range frontier {
		frontier[i] = i
	}
	complete := true
	for len(frontier) > 0 {
		var next []int
		for start := 0; start < len(frontier); start += protectedBatch {
			batch := frontier[start:min(start+protectedBatch, len(frontier))]
			in := make(map[string]int, len(batch))
			var f strings.Builder
			f.WriteString("(&(objectCategory=group)(|")
			for _, i := range batch {
				in[w.nodes[i].norm] = i
				f.WriteString("(memberOf=" + EscapeFilter(w.nodes[i].dn) + ")")
			}
			f.WriteString("))")
			err := dir.Search(ctx, domain, ScopeSubtree, f.String(), []string{AttrExternalDirectoryObjectID, "memberOf"}, func(en *ldap.Entry) error {
				c, isNew := w.node(en.DN, en.GetEqualFoldAttributeValue(AttrExternalDirectoryObjectID))
				if isNew {
					next = append(next, c)
				}
				if nextRange(en, "memberOf") >= 0 {
					complete = false
				}
				linked := false
				for _, v := range rangeValues(en, "memberOf") {
					if p, ok := in[ldapdn.Norm(v)]; ok {
						w.children[p] = append(w.children[p], c)
						linked = true
					}
				}
				if !linked {
					complete = false
				}
				return nil
			})
			if err != nil {
				return false, fmt.Errorf("find the groups nested in the protected groups of the domain: %w", err)
			}
		}
		frontier = next
	}
	return complete, nil
}

// nestedInProtectedInChain asks the DC, per protected group, for the
// anchored groups under base in its chain (memberOf in-chain): one search
// per protected group, each evaluating the chain of every anchored group.
func nestedInProtectedInChain(ctx context.Context, dir Searcher, roots []string, base string) (map[string]string, error) {
	out := map[string]string{}
	for _, root := range roots {
		f := "(&(objectCategory=group)(" + AttrExternalDirectoryObjectID + "=Group_*)(memberOf:" + InChainOID + ":=" + EscapeFilter(root) + "))"
		err := dir.Search(ctx, base, ScopeSubtree, f, []string{AttrExternalDirectoryObjectID}, func(en *ldap.Entry) error {
			k := strings.ToLower(en.GetEqualFoldAttributeValue(AttrExternalDirectoryObjectID))
			if _, seen := out[k]; !seen {
				out[k] = nestedReason(root)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("find groups nested in the protected group %s: %w", root, err)
		}
	}
	return out, nil
}

// NestedInProtected is the package function NestedInProtected on this
// connection.
func (c *Conn) NestedInProtected(ctx context.Context, domain, base string) (map[string]string, error) {
	return NestedInProtected(ctx, c, domain, base)
}
