package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// connectSyncGroups creates n groups as Connect Sync group writeback v2 left
// them: universal security, CN=Group_<id>, adminDescription Group_<id> and no
// msDS-ExternalDirectoryObjectId. It returns their DNs and anchors.
func connectSyncGroups(ctx context.Context, d *dirInfo, ou, tag string, n int) ([]string, []string, error) {
	dns := make([]string, n)
	anchors := make([]string, n)
	for i := range n {
		id := fmt.Sprintf("%08x-%04x-4000-8000-%012x", i, len(tag), i)
		anchors[i] = "Group_" + id
		dns[i] = "CN=" + anchors[i] + "," + ou
	}
	jobs := make([]func(*ldap.Conn) error, n)
	for i := range n {
		r := ldap.NewAddRequest(dns[i], nil)
		r.Attribute("objectClass", []string{"group"})
		r.Attribute("groupType", []string{"-2147483640"})
		r.Attribute("sAMAccountName", []string{fmt.Sprintf("cs%s%07d", tag, i)})
		r.Attribute("adminDescription", []string{anchors[i]})
		jobs[i] = func(c *ldap.Conn) error {
			if err := c.Add(r); err != nil {
				return fmt.Errorf("create %s: %w", dns[i], err)
			}
			return nil
		}
	}
	return dns, anchors, onConns(ctx, d, 2, jobs)
}

// migration times `writeback migrate prepare` on n groups against the
// guide's way on another n groups: one modify per group from a fresh client.
// The fresh client is emulated two ways: a new LDAPS connection and bind per
// group (all groups), and a new ldapmodify process per group (a sample,
// extrapolated to n).
func migration(ctx context.Context, o options, d *dirInfo, n int, ouA, ouB, cfg, work string) (*migResult, error) {
	if _, _, err := connectSyncGroups(ctx, d, ouA, "a", n); err != nil {
		return nil, err
	}
	dnsB, anchorsB, err := connectSyncGroups(ctx, d, ouB, "b", n)
	if err != nil {
		return nil, err
	}
	r := &migResult{Groups: n}

	t0 := time.Now()
	_, _, rss, err := runWB(ctx, o.bin, nil, "migrate", "prepare", "--config", cfg, "--base", ouA, "--no-entra",
		"--journal", filepath.Join(work, "prepare.journal"))
	if err != nil {
		return nil, err
	}
	r.PrepareSeconds = secs(time.Since(t0))
	r.PrepareRSSMiB = rss.MiB
	if err := checkAnchored(d, ouA, n); err != nil {
		return nil, err
	}

	// A fresh ldapmodify process per group, for a sample.
	k := min(o.migSample, n)
	pwFile := filepath.Join(work, "pw.raw")
	if err := os.WriteFile(pwFile, []byte(d.Password), 0o600); err != nil {
		return nil, err
	}
	if k > 0 {
		t0 = time.Now()
		for i := 0; i < k; i++ {
			ldif := fmt.Sprintf("dn: %s\nchangetype: modify\nreplace: msDS-ExternalDirectoryObjectId\nmsDS-ExternalDirectoryObjectId: %s\n-\n", dnsB[i], anchorsB[i])
			cmd := exec.CommandContext(ctx, "ldapmodify", "-x", "-H", d.URL, "-D", d.BindDN, "-y", pwFile)
			cmd.Env = append(os.Environ(), "LDAPTLS_CACERT="+d.CAFile, "LDAPTLS_REQCERT=demand")
			cmd.Stdin = strings.NewReader(ldif)
			if out, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("ldapmodify %s: %w: %s", dnsB[i], err, out)
			}
		}
		r.ProcessSample = k
		r.ProcessPerGroupMs = float64(time.Since(t0).Microseconds()) / 1000 / float64(k)
		r.ProcessExtrapol = r.ProcessPerGroupMs * float64(n) / 1000
	}

	// A fresh connection and bind per group, for the rest, timed and scaled to n.
	t0 = time.Now()
	for i := k; i < n; i++ {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c, err := d.dial()
		if err != nil {
			return nil, err
		}
		m := ldap.NewModifyRequest(dnsB[i], nil)
		m.Replace("msDS-ExternalDirectoryObjectId", []string{anchorsB[i]})
		err = c.Modify(m)
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("modify %s: %w", dnsB[i], err)
		}
	}
	if n > k {
		r.PerConnSeconds = secs(time.Since(t0)) * float64(n) / float64(n-k)
	}
	if err := checkAnchored(d, ouB, n); err != nil {
		return nil, err
	}
	if r.PrepareSeconds > 0 {
		r.RatioConn = r.PerConnSeconds / r.PrepareSeconds
		r.RatioProcess = r.ProcessExtrapol / r.PrepareSeconds
	}
	return r, nil
}

// checkAnchored verifies that all n groups in ou carry the anchor.
func checkAnchored(d *dirInfo, ou string, n int) error {
	c, err := d.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	req := ldap.NewSearchRequest(ou, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		"(&(objectClass=group)(msDS-ExternalDirectoryObjectId=Group_*))", []string{"1.1"}, nil)
	res, err := c.SearchWithPaging(req, 1000)
	if err != nil {
		return fmt.Errorf("count anchored groups in %s: %w", ou, err)
	}
	if len(res.Entries) != n {
		return fmt.Errorf("%s: %d of %d groups carry the anchor", ou, len(res.Entries), n)
	}
	return nil
}
