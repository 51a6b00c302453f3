package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/emulator"
)

// dirInfo is how the bench reaches the lab DC with plain go-ldap.
type dirInfo struct {
	URL, BindDN, Password, Base, TargetOU, CAFile string
	tlsConf                                       *tls.Config
}

func newDirInfo(env map[string]string) (*dirInfo, error) {
	pw, err := os.ReadFile(env["LAB_PASSWORD_FILE"])
	if err != nil {
		return nil, fmt.Errorf("read lab password: %w", err)
	}
	ca, err := os.ReadFile(env["LAB_CA_CERT"])
	if err != nil {
		return nil, fmt.Errorf("read lab CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	d := &dirInfo{URL: env["LAB_LDAPS_URL"], BindDN: env["LAB_BIND_DN"], Password: strings.TrimRight(string(pw), "\r\n"),
		Base: env["LAB_BASE_DN"], TargetOU: env["LAB_TARGET_OU"], CAFile: env["LAB_CA_CERT"]}
	d.tlsConf = &tls.Config{RootCAs: pool, ServerName: env["LAB_TLS_SERVER_NAME"]}
	return d, nil
}

// dial opens a new bound LDAPS connection (what a fresh client process does).
func (d *dirInfo) dial() (*ldap.Conn, error) {
	c, err := ldap.DialURL(d.URL, ldap.DialWithTLSConfig(d.tlsConf))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", d.URL, err)
	}
	if err := c.Bind(d.BindDN, d.Password); err != nil {
		c.Close()
		return nil, fmt.Errorf("bind %s: %w", d.BindDN, err)
	}
	return c, nil
}

func addOU(c *ldap.Conn, dn string) error {
	r := ldap.NewAddRequest(dn, nil)
	r.Attribute("objectClass", []string{"organizationalUnit"})
	if err := c.Add(r); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
		return fmt.Errorf("create OU %s: %w", dn, err)
	}
	return nil
}

// createUsers adds n users to ou over 4 connections and reads back their
// anchors (objectGUID, objectSid) as Entra Connect would have synced them.
func createUsers(ctx context.Context, d *dirInfo, ou string, n int) ([]emulator.Anchor, error) {
	jobs := make([]func(*ldap.Conn) error, n)
	for i := range n {
		sam := fmt.Sprintf("bu%07d", i)
		r := ldap.NewAddRequest(fmt.Sprintf("CN=Bench User %07d,%s", i, ou), nil)
		r.Attribute("objectClass", []string{"user"})
		r.Attribute("sAMAccountName", []string{sam})
		r.Attribute("userPrincipalName", []string{sam + "@contoso.test"})
		r.Attribute("displayName", []string{fmt.Sprintf("Bench User %07d", i)})
		r.Attribute("userAccountControl", []string{"514"})
		jobs[i] = func(c *ldap.Conn) error {
			if err := c.Add(r); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
				return fmt.Errorf("create user %s: %w", r.DN, err)
			}
			return nil
		}
	}
	if err := onConns(ctx, d, 4, jobs); err != nil {
		return nil, err
	}
	return readUsers(d, ou)
}

// readUsers reads the anchors (objectGUID, objectSid) of every user under ou,
// as Entra Connect would have synced them.
func readUsers(d *dirInfo, ou string) ([]emulator.Anchor, error) {
	c, err := d.dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	req := ldap.NewSearchRequest(ou, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=user)", []string{"objectGUID", "objectSid", "sAMAccountName", "userPrincipalName", "displayName"}, nil)
	res, err := c.SearchWithPaging(req, 1000)
	if err != nil {
		return nil, fmt.Errorf("read back users in %s: %w", ou, err)
	}
	var out []emulator.Anchor
	for _, e := range res.Entries {
		g, err := ad.GUIDFromAD(e.GetRawAttributeValue("objectGUID"))
		if err != nil {
			return nil, fmt.Errorf("user %s: %w", e.DN, err)
		}
		sid, err := ad.SIDFromAD(e.GetRawAttributeValue("objectSid"))
		if err != nil {
			return nil, fmt.Errorf("user %s: %w", e.DN, err)
		}
		out = append(out, emulator.Anchor{GUID: g.String(), SID: sid, SAM: e.GetAttributeValue("sAMAccountName"), DN: e.DN,
			UPN: e.GetAttributeValue("userPrincipalName"), DisplayName: e.GetAttributeValue("displayName")})
	}
	return out, nil
}

// memberVisible reports whether member is a value of group's member attribute.
func memberVisible(c *ldap.Conn, group, member string) (bool, error) {
	req := ldap.NewSearchRequest(group, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(member="+ldap.EscapeFilter(member)+")", []string{"1.1"}, nil)
	res, err := c.Search(req)
	if err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return false, nil
		}
		return false, err
	}
	return len(res.Entries) > 0, nil
}

// onConns runs jobs on conns fresh bound connections, one job at a time each.
func onConns(ctx context.Context, d *dirInfo, conns int, jobs []func(*ldap.Conn) error) error {
	cs := make([]*ldap.Conn, conns)
	for i := range cs {
		c, err := d.dial()
		if err != nil {
			return err
		}
		defer c.Close()
		cs[i] = c
	}
	return runParallel(ctx, cs, jobs)
}
