package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/plan"
)

// repairLatency starts the daemon and times edits made by hand in AD to
// groups it owns (issue 20 item 4): alternately a member added that Entra
// does not have, and a managed attribute changed (description, or
// displayName for a group created without a description). Each is timed from the edit to
// the moment the DC shows it undone. The edits come at random points of the
// poll cycle, one after the other.
func repairLatency(ctx context.Context, o options, d *dirInfo, changes []plan.Change, cfg string, anchors []emulator.Anchor) (*latencyResult, error) {
	groups := repairTargets(changes)
	var users []string // AD users to add by hand
	for _, a := range anchors {
		users = append(users, a.DN)
	}
	if len(groups) == 0 || len(users) == 0 {
		return nil, errors.New("repair latency: no provisioned groups or AD users")
	}
	dmn, err := startDaemon(ctx, o, cfg, "daemon-repair.log")
	if err != nil {
		return nil, err
	}
	defer dmn.stop()
	c, err := d.dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// Let the daemon open its sessions and do its first rounds (the one
	// after the earlier runs' writes compares those groups once more).
	if err := sleep(ctx, 2*o.interval+time.Second); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(3, 4))
	r := &latencyResult{Changes: o.repairEdits, Interval: o.interval.Seconds()}
	for i := 0; i < o.repairEdits; i++ {
		if err := sleep(ctx, time.Duration(rng.Int64N(int64(o.interval)))); err != nil {
			return nil, err
		}
		g := groups[rng.IntN(len(groups))]
		repaired, err := editByHand(c, g, i, users, rng)
		if err != nil {
			return nil, err
		}
		if err := timeRepair(ctx, g.dn, repaired, r); err != nil {
			return nil, err
		}
	}
	dmn.finish(r)
	r.summarise()
	return r, nil
}

// repairTarget is a group the bench edits by hand: its DN and a managed
// attribute with the value writeback wrote.
type repairTarget struct{ dn, attr, value string }

// repairTargets are the groups the first sync created, sorted by DN.
func repairTargets(changes []plan.Change) []repairTarget {
	var groups []repairTarget
	for _, ch := range changes {
		if ch.Action != plan.Create {
			continue
		}
		t := repairTarget{dn: ch.DN}
		for _, a := range ch.Attrs {
			if len(a.After) != 1 {
				continue
			}
			if strings.EqualFold(a.Name, "description") || (strings.EqualFold(a.Name, "displayName") && t.attr == "") {
				t.attr, t.value = a.Name, a.After[0]
			}
		}
		groups = append(groups, t)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].dn < groups[j].dn })
	return groups
}

// editByHand makes edit i to g as an administrator would (odd: the managed
// attribute; even: a member added) and returns the check that it is undone.
func editByHand(c *ldap.Conn, g repairTarget, i int, users []string, rng *rand.Rand) (repaired func() (bool, error), err error) {
	if i%2 == 1 && g.attr != "" {
		if err := c.Modify(modify(g.dn, g.attr, fmt.Sprintf("edited by hand %d", i))); err != nil {
			return nil, fmt.Errorf("edit the %s of %s: %w", g.attr, g.dn, err)
		}
		return func() (bool, error) {
			v, err := readAttr(c, g.dn, g.attr)
			return v == g.value, err
		}, nil
	}
	var u string
	for tries := 0; ; tries++ {
		u = users[rng.IntN(len(users))]
		in, err := memberVisible(c, g.dn, u)
		if err != nil {
			return nil, err
		}
		if !in {
			break
		}
		if tries > 100 {
			return nil, errors.New("repair latency: no group/user pair found")
		}
	}
	m := ldap.NewModifyRequest(g.dn, nil)
	m.Add("member", []string{u})
	if err := c.Modify(m); err != nil {
		return nil, fmt.Errorf("add %s to %s by hand: %w", u, g.dn, err)
	}
	return func() (bool, error) {
		in, err := memberVisible(c, g.dn, u)
		return !in, err
	}, nil
}

// timeRepair polls repaired every 20 ms and adds how long it took to r (or
// counts a timeout after 60 s).
func timeRepair(ctx context.Context, dn string, repaired func() (bool, error), r *latencyResult) error {
	t0 := time.Now()
	for {
		ok, err := repaired()
		if err != nil {
			return fmt.Errorf("poll %s: %w", dn, err)
		}
		if ok {
			r.All = append(r.All, time.Since(t0).Seconds())
			return nil
		}
		if time.Since(t0) > 60*time.Second {
			r.TimedOut++
			return nil
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// summarise computes the percentiles of r.All and rounds the samples.
func (r *latencyResult) summarise() {
	sorted := append([]float64(nil), r.All...)
	sort.Float64s(sorted)
	if n := len(sorted); n > 0 {
		r.P50 = round2(pct(sorted, 0.50))
		r.P95 = round2(pct(sorted, 0.95))
		r.Max = round2(sorted[n-1])
	}
	for i := range r.All {
		r.All[i] = round2(r.All[i])
	}
}

func modify(dn, attr, value string) *ldap.ModifyRequest {
	m := ldap.NewModifyRequest(dn, nil)
	m.Replace(attr, []string{value})
	return m
}

// readAttr reads one value of attr at dn ("" when absent).
func readAttr(c *ldap.Conn, dn, attr string) (string, error) {
	res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{attr}, nil))
	if err != nil {
		return "", err
	}
	if len(res.Entries) == 0 {
		return "", nil
	}
	return res.Entries[0].GetAttributeValue(attr), nil
}
