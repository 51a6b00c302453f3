// Package ldaptest is a small in-process LDAP server for tests that must see
// Active Directory's limits, which the lab's Samba DC does not enforce:
// MaxPageSize (at most 1000 entries per page; an unpaged search that matches
// more returns 1000 and sizeLimitExceeded) and MaxValRange (at most 1500
// values of a multi-valued attribute per response, the rest by ranged
// retrieval "member;range=1500-*"). In ModeWindows (the default) it answers
// member changes like a Windows DC: 68 with Win32 00000562 for a member that
// is already there, 53 with 00000561 for one that is not, at most
// MaxValuesPerModify values per modify (11 adminLimitExceeded beyond), and
// it honours the permissive-modify control (1.2.840.113556.1.4.1413). In
// ModeSamba it answers like Samba 4.17 (68/53 with Samba's texts, 16 on a
// group without members, permissive modify ignored). Both modes refuse a CN
// over 64 characters (19) and, in ModeWindows, one with a control character
// (64 namingViolation). In ModeWindows it also refuses group type changes
// and nestings as Windows does (53 with Win32 8517-8519; global <-> domain
// local only through universal). Both honour the extended DN control
// (1.2.840.113556.1.4.529), inside ranged member answers too. Tests can
// inject busy/unavailable answers (51/52), refusals "by policy" (53 with
// another Win32 code) and rejected binds with a sub-code (expired, locked
// out, ...): see Inject, RefuseMember and SetBindFailure.
//
// Like a DC, it gives an object added over LDAP an objectGUID and, for a
// security principal (group, user, computer), an objectSid in the domain
// (DomainSID, RIDs from 1101 up), so what a client creates can be found
// again by GUID and SID; entries stored with Put carry what the test gives
// them. Binary values (objectGUID, objectSid, any value that is not UTF-8)
// match filters byte for byte, as AD's octet-string matching does.
//
// There are no ACLs: the one bind account may write every attribute, and
// the constructed attribute allowedAttributesEffective (returned only when
// asked for by name, as AD does) lists what an object's class allows, except
// on objects DenyWrites made read-only: those omit it, as AD and Samba do
// for an object the account may not write, and refuse modifies with 50.
// Every entry has distinguishedName, as in AD: filters match it (as a DN)
// and it is returned when asked for by name. A managedBy or manager value
// must name an object the server holds, as a DC refuses a DN-syntax value
// that names none (Windows: 32 noSuchObject; Samba: 19, as probed on the
// lab); member values are not checked, so tests can add made-up members by
// the thousand.
//
// It speaks plain LDAP on loopback, written on go-asn1-ber. It is a test
// instrument, not a directory: filters support and/or/not/equality/presence/
// substrings, matching is case-insensitive, and there is no schema.
package ldaptest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/ldapdn"
)

// Options configures a Server.
type Options struct {
	BaseDN      string // default DC=contoso,DC=test
	BindDN      string // default CN=Administrator,CN=Users,<base>
	Password    string // default "secret"
	MaxPageSize int    // default 1000 (Windows)
	MaxValRange int    // default 1500 (Windows)
	// MaxValuesPerModify caps the values of one modify (Windows' documented
	// 5,000 operations per LDAP transaction); default 5000, -1 for no cap.
	MaxValuesPerModify int
	Mode               Mode // default ModeWindows
	// DSA names the simulated domain controller (its server object's CN).
	// When set, the RootDSE says who it is (dsServiceName, dnsHostName) and
	// its nTDSDSA object carries InvocationID and RODC, as a real DC's do;
	// several servers with different DSAs are several DCs of one domain.
	DSA          string
	InvocationID string // default derived from DSA
	RODC         bool
	NotGC        bool // isGlobalCatalogReady FALSE
}

// Mode selects whose answers the server imitates.
type Mode int

const (
	// ModeWindows answers like a Windows Server DC.
	ModeWindows Mode = iota
	// ModeSamba answers like Samba 4.17 (the lab's DC).
	ModeSamba
)

// Diagnostic texts of the answers ldaptest gives, as the DCs write them.
const (
	DiagWindowsMemberExists = "00000562: UpdErr: DSID-031A11C4, problem 6005 (ENTRY_EXISTS), data 0"
	DiagWindowsMemberAbsent = "00000561: SvcErr: DSID-031A1254, problem 5003 (WILL_NOT_PERFORM), data 0"
	DiagSambaMemberExists   = "Attribute member already exists for target GUID 6e4d2a1c-0000-4000-8000-000000000000"
	DiagSambaMemberAbsent   = "Attribute member doesn't exist for target GUID 6e4d2a1c-0000-4000-8000-000000000000"
	DiagSambaNoSuchAttr     = "No such attribute during LDB_MODIFY"
	// DiagPolicy is a refusal for another reason than membership (Win32
	// 0000054F ERROR_INTERNAL_ERROR, as seen when syncing groups into AD).
	DiagPolicy = "0000054F: SvcErr: DSID-031A1254, problem 5003 (WILL_NOT_PERFORM), data 0"
	DiagBusy   = "00002024: SvcErr: DSID-03380A0D, problem 5001 (BUSY), data 0"
)

// PermissiveModifyOID is LDAP_SERVER_PERMISSIVE_MODIFY_OID.
const PermissiveModifyOID = "1.2.840.113556.1.4.1413"

// Result is an LDAP answer a test injects.
type Result struct {
	Code uint16
	Msg  string
}

// Stats counts what the server did, so tests can prove the client paged.
type Stats struct {
	Searches        int
	PagedSearches   int
	MaxPageReturned int // most entries returned in one search response
	MaxValsReturned int // most values of one attribute in one entry
	RangedRequests  int // searches that asked for attr;range=
	SizeLimitErrors int
	Modifies, Adds  int
	// ModifyValues is the most values one modify carried.
	ModifyValues int
	// PermissiveModifies counts modifies sent with the permissive-modify control.
	PermissiveModifies int
	Binds              int // successful binds
	BindFailures       int // binds rejected with invalidCredentials (49)
}

// Server is a running test LDAP server.
type Server struct {
	opts Options
	ln   net.Listener
	t    testing.TB

	mu      sync.Mutex
	entries map[string]*entry // by ldapdn.Norm
	paging  map[string][]string
	nextCk  int
	stats   Stats
	conns   sync.WaitGroup
	live    map[net.Conn]bool
	addr    string

	bindSub string            // when set, every bind answers 49 with this sub-code
	inject  []Result          // answers for the next modifies, in order
	refused map[string]Result // NormalizeDN(group)+"|"+NormalizeDN(member) -> answer to its removal

	readOnly map[string]bool // NormalizeDN -> the bind account may not write it (DenyWrites)

	nextRID  uint32 // the RID of the next security principal added over LDAP
	nextGUID uint64 // numbers the objectGUIDs of objects added over LDAP
}

type entry struct {
	dn    string
	attrs map[string][]string // key: attribute name as first written
}

func (e *entry) get(name string) (string, []string) {
	for k, v := range e.attrs {
		if strings.EqualFold(k, name) {
			return k, v
		}
	}
	return name, nil
}

func (e *entry) set(name string, vals []string) {
	k, _ := e.get(name)
	if len(vals) == 0 {
		delete(e.attrs, k)
		return
	}
	e.attrs[k] = vals
}

// Start runs a server on 127.0.0.1 until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.BaseDN == "" {
		o.BaseDN = "DC=contoso,DC=test"
	}
	if o.BindDN == "" {
		o.BindDN = "CN=Administrator,CN=Users," + o.BaseDN
	}
	if o.Password == "" {
		o.Password = "secret"
	}
	if o.MaxPageSize == 0 {
		o.MaxPageSize = 1000
	}
	if o.MaxValRange == 0 {
		o.MaxValRange = 1500
	}
	if o.MaxValuesPerModify == 0 {
		o.MaxValuesPerModify = 5000
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("ldaptest: %v", err)
	}
	s := &Server{opts: o, ln: ln, t: t, entries: map[string]*entry{}, paging: map[string][]string{}, live: map[net.Conn]bool{}, addr: ln.Addr().String(), refused: map[string]Result{},
		nextRID: 1101, readOnly: map[string]bool{}}
	schema := "CN=Schema,CN=Configuration," + o.BaseDN
	domainSID, err := ad.SIDToAD(s.DomainSID())
	if err != nil {
		t.Fatalf("ldaptest: domain SID: %v", err)
	}
	s.Put(o.BaseDN, map[string][]string{"objectClass": {"top", "domain"}, "objectSid": {string(domainSID)}})
	s.Put("CN=Configuration,"+o.BaseDN, map[string][]string{"objectClass": {"configuration"}})
	s.Put(schema, map[string][]string{"objectClass": {"dMD"}})
	s.Put("CN=ms-DS-External-Directory-Object-Id,"+schema, map[string][]string{
		"objectClass": {"attributeSchema"}, "lDAPDisplayName": {ad.AttrExternalDirectoryObjectID}, "isMemberOfPartialAttributeSet": {"TRUE"}})
	s.Put("CN=Users,"+o.BaseDN, map[string][]string{"objectClass": {"container"}})
	s.Put(o.BindDN, map[string][]string{"objectClass": {"user"}})
	if o.DSA != "" {
		if o.InvocationID == "" {
			o.InvocationID = fmt.Sprintf("%08x-0000-4000-8000-000000000000", crc32.ChecksumIEEE([]byte(o.DSA)))
			s.opts.InvocationID = o.InvocationID
		}
		g, err := ad.ParseGUID(o.InvocationID)
		if err != nil {
			t.Fatalf("ldaptest: InvocationID %q: %v", o.InvocationID, err)
		}
		classes := []string{"top", "applicationSettings", "nTDSDSA"}
		if o.RODC {
			classes = append(classes, "nTDSDSARO")
		}
		s.Put(s.DSServiceName(), map[string][]string{"objectClass": classes, "invocationId": {string(g.AD())},
			"msDS-isRODC": {strings.ToUpper(strconv.FormatBool(o.RODC))}})
	}
	go s.serve(ln)
	t.Cleanup(func() { s.Stop(); s.conns.Wait() })
	return s
}

// DomainSID is the SID of the simulated domain ("S-1-5-21-a-b-c", derived
// from the base DN): the prefix of the objectSid the server gives a security
// principal added over LDAP.
func (s *Server) DomainSID() string {
	h := func(salt string) uint32 { return crc32.ChecksumIEEE([]byte(salt + ldapdn.Norm(s.opts.BaseDN))) }
	return fmt.Sprintf("S-1-5-21-%d-%d-%d", h("a"), h("b"), h("c"))
}

// DSServiceName is the DN of the simulated DC's nTDSDSA object ("" without Options.DSA).
func (s *Server) DSServiceName() string {
	if s.opts.DSA == "" {
		return ""
	}
	return "CN=NTDS Settings,CN=" + s.opts.DSA + ",CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration," + s.opts.BaseDN
}

// URL is the server's ldap:// URL.
func (s *Server) URL() string { return "ldap://" + s.addr }

// DropConnections closes every client connection from the server side, as a
// DC restart or a reset by a firewall does; the server keeps accepting new ones.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.live {
		c.Close()
	}
}

// Stop closes the listener and every connection: the DC is down.
func (s *Server) Stop() {
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	s.mu.Unlock()
	s.DropConnections()
}

// Restart listens again on the same address after Stop, with the same data.
func (s *Server) Restart() {
	s.t.Helper()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("ldaptest: listen again on %s: %v", s.addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	go s.serve(ln)
}

// Config returns an ad config for this server (plain LDAP, so Insecure).
func (s *Server) Config() config.AD {
	pw := filepath.Join(s.t.TempDir(), "password")
	os.WriteFile(pw, []byte(s.opts.Password+"\n"), 0o600)
	return config.AD{URL: s.URL(), GCURL: s.URL(), Insecure: true, BindDN: s.opts.BindDN,
		Password: config.Secret{File: pw}, BaseDN: s.opts.BaseDN, PageSize: 1000, MemberBatch: 1000, Timeout: config.Duration(30e9)}
}

// Put stores an entry, replacing any with the same DN.
func (s *Server) Put(dn string, attrs map[string][]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &entry{dn: dn, attrs: map[string][]string{}}
	for k, v := range attrs {
		e.attrs[k] = append([]string(nil), v...)
	}
	s.entries[ldapdn.Norm(dn)] = e
}

// Values returns an attribute of an entry (nil if absent).
func (s *Server) Values(dn, attr string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[ldapdn.Norm(dn)]; e != nil {
		_, v := e.get(attr)
		return append([]string(nil), v...)
	}
	return nil
}

// Replicate copies to dst the entries under base (subtree) that dst lacks or
// holds differently, as AD replication would deliver them: what one simulated
// DC wrote reaches another only when a test calls this (a delayed
// replication). Deletions are not replicated.
func (s *Server) Replicate(dst *Server, base string) int {
	s.mu.Lock()
	var copies []*entry
	nb := ldapdn.Norm(base)
	for k, e := range s.entries {
		if k == nb || strings.HasSuffix(k, ","+nb) {
			c := &entry{dn: e.dn, attrs: map[string][]string{}}
			for a, v := range e.attrs {
				c.attrs[a] = append([]string(nil), v...)
			}
			copies = append(copies, c)
		}
	}
	s.mu.Unlock()
	for _, c := range copies {
		dst.Put(c.dn, c.attrs)
	}
	return len(copies)
}

// DNs lists the DNs of the entries under base whose attribute attr has
// value v (case-insensitive), for tests that look for duplicates.
func (s *Server) DNs(base, attr, v string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	nb := ldapdn.Norm(base)
	var out []string
	for k, e := range s.entries {
		if k != nb && !strings.HasSuffix(k, ","+nb) {
			continue
		}
		_, vals := e.get(attr)
		for _, x := range vals {
			if strings.EqualFold(x, v) {
				out = append(out, e.dn)
			}
		}
	}
	sort.Strings(out)
	return out
}

// SetBindFailure makes every bind answer 49 with Windows' diagnostic for
// sub-code sub ("532" password expired, "533" disabled, "773" must change
// password, "775" locked out), even with the right password; "" restores
// normal binds.
func (s *Server) SetBindFailure(sub string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bindSub = sub
}

// Inject makes the next modifies (any DN) answer rs in order instead of
// being applied, e.g. {51, DiagBusy} for a busy DC.
func (s *Server) Inject(rs ...Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inject = append(s.inject, rs...)
}

// RefuseMember makes every modify that removes member from group answer r
// (e.g. {53, DiagPolicy}: refused by policy) and change nothing.
func (s *Server) RefuseMember(group, member string, r Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused[ldapdn.Norm(group)+"|"+ldapdn.Norm(member)] = r
}

// DenyWrites makes dn read-only for the bind account, as an ACL granting it
// no write right would: allowedAttributesEffective is left out of dn's
// entry and a modify of dn answers 50 insufficientAccessRights.
func (s *Server) DenyWrites(dn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readOnly[ldapdn.Norm(dn)] = true
}

// Answers to a managedBy or manager value that names no object.
const (
	DiagWindowsNoReferent = "0000208D: NameErr: DSID-03100213, problem 2001 (NO_OBJECT), data 0"
	// Samba 4.17 (lab probe, 2026-12-05: ldapadd of a group with managedBy
	// naming no object).
	DiagSambaNoReferent = "000020B5: Referenced object not found at ../../source4/dsdb/samdb/ldb_modules/extended_dn_store.c:357:extended_replace_callback"
)

// refAttrs are the DN-syntax attributes whose values must name an object.
var refAttrs = map[string]bool{"managedby": true, "manager": true}

// checkReferences refuses a value of a refAttrs attribute that names no
// object the server holds. Called with s.mu held.
func (s *Server) checkReferences(attr string, vals []string) result {
	if !refAttrs[strings.ToLower(attr)] {
		return result{}
	}
	for _, v := range vals {
		if strings.HasPrefix(v, "<") { // <GUID=...>, <SID=...>: not resolved here
			continue
		}
		if _, ok := s.entries[ldapdn.Norm(v)]; !ok {
			if s.opts.Mode == ModeSamba {
				return result{19, DiagSambaNoReferent}
			}
			return result{32, DiagWindowsNoReferent}
		}
	}
	return result{}
}

// DiagAccessDenied is Windows' answer to a write the account has no right to.
const DiagAccessDenied = "00002098: SecErr: DSID-03150F94, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0"

// writable lists, per object class, the attributes allowedAttributesEffective
// names for an account that may write the object: a subset of what the
// class may contain in AD's schema, enough for the attributes clients ask
// about (writeback: the anchor and member).
var writable = map[string][]string{
	"group": {"adminDescription", "cn", "description", "displayName", "groupType", "info", "mail", "managedBy",
		"member", ad.AttrExternalDirectoryObjectID, "name", "proxyAddresses", "sAMAccountName"},
	"user": {"adminDescription", "cn", "description", "displayName", "givenName", "mail", "manager",
		ad.AttrExternalDirectoryObjectID, "name", "sAMAccountName", "sn", "userAccountControl", "userPrincipalName"},
	"organizationalunit": {"description", "gPLink", "managedBy", "name", "ou"},
}

// allowedAttributesEffective is the constructed attribute's value for e (nil
// when the account may write nothing of it). Called with s.mu held.
func (s *Server) allowedAttributesEffective(e *entry) []string {
	if s.readOnly[ldapdn.Norm(e.dn)] {
		return nil
	}
	_, classes := e.get("objectClass")
	for i := len(classes) - 1; i >= 0; i-- { // the most specific class is last
		if w, ok := writable[strings.ToLower(classes[i])]; ok {
			return w
		}
	}
	return []string{"description", "name"}
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *Server) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.live[c] = true
		s.mu.Unlock()
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			defer func() {
				s.mu.Lock()
				delete(s.live, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.handle(c)
		}()
	}
}

// LDAP application tags.
const (
	appBindRequest     = 0
	appBindResponse    = 1
	appUnbindRequest   = 2
	appSearchRequest   = 3
	appSearchEntry     = 4
	appSearchDone      = 5
	appModifyRequest   = 6
	appModifyResponse  = 7
	appAddRequest      = 8
	appAddResponse     = 9
	appDelRequest      = 10
	appDelResponse     = 11
	appModDNRequest    = 12
	appModDNResponse   = 13
	appAbandonRequest  = 16
	appExtendedRequest = 23
	appExtendedResp    = 24
	pagingOID          = "1.2.840.113556.1.4.319"
)

// result is an LDAP result code with a diagnostic message.
type result struct {
	code uint16
	msg  string
}

func (s *Server) handle(c net.Conn) {
	bound := false
	for {
		p, err := ber.ReadPacket(c)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.t.Logf("ldaptest: read: %v", err)
			}
			return
		}
		if len(p.Children) < 2 {
			return
		}
		id := p.Children[0].Value
		op := p.Children[1]
		var controls []*ber.Packet
		if len(p.Children) > 2 {
			controls = p.Children[2].Children
		}
		w := func(resp *ber.Packet, ctrls ...*ber.Packet) bool {
			env := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
			env.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
			env.AppendChild(resp)
			if len(ctrls) > 0 {
				cs := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "")
				for _, ct := range ctrls {
					cs.AppendChild(ct)
				}
				env.AppendChild(cs)
			}
			_, err := c.Write(env.Bytes())
			return err == nil
		}
		switch op.Tag {
		case appBindRequest:
			name, pw := str(op.Children[1]), str(op.Children[2])
			r := result{}
			s.mu.Lock()
			sub := s.bindSub
			s.mu.Unlock()
			if !ldapdn.Equal(name, s.opts.BindDN) || pw != s.opts.Password || sub != "" {
				if sub == "" {
					sub = "52e"
				}
				r = result{49, "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data " + sub + ", v4563"}
				s.mu.Lock()
				s.stats.BindFailures++
				s.mu.Unlock()
			} else {
				bound = true
				s.mu.Lock()
				s.stats.Binds++
				s.mu.Unlock()
			}
			if !w(ldapResult(appBindResponse, r)) {
				return
			}
		case appUnbindRequest:
			return
		case appAbandonRequest:
		case appExtendedRequest:
			if !w(ldapResult(appExtendedResp, result{2, "extended operations are not supported by ldaptest"})) {
				return
			}
		case appSearchRequest:
			if !bound && str(op.Children[0]) != "" {
				w(ldapResult(appSearchDone, result{1, "000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a successful bind must be completed on the connection."}))
				continue
			}
			entries, done, ctrl := s.search(op, controls)
			for _, e := range entries {
				if !w(e) {
					return
				}
			}
			if ctrl != nil {
				if !w(done, ctrl) {
					return
				}
			} else if !w(done) {
				return
			}
		case appModifyRequest:
			if !w(ldapResult(appModifyResponse, s.modify(op, hasControl(controls, PermissiveModifyOID)))) {
				return
			}
		case appAddRequest:
			if !w(ldapResult(appAddResponse, s.add(op))) {
				return
			}
		case appDelRequest:
			if !w(ldapResult(appDelResponse, s.del(str(op)))) {
				return
			}
		case appModDNRequest:
			if !w(ldapResult(appModDNResponse, s.modDN(op))) {
				return
			}
		default:
			w(ldapResult(appExtendedResp, result{2, fmt.Sprintf("operation %d not supported", op.Tag)}))
		}
	}
}

func hasControl(controls []*ber.Packet, oid string) bool {
	for _, c := range controls {
		if len(c.Children) > 0 && str(c.Children[0]) == oid {
			return true
		}
	}
	return false
}

func str(p *ber.Packet) string {
	if p.ByteValue != nil {
		return string(p.ByteValue)
	}
	return p.Data.String()
}

func integer(p *ber.Packet) int64 {
	v, _ := ber.ParseInt64(p.ByteValue)
	return v
}

func ldapResult(tag ber.Tag, r result) *ber.Packet {
	p := ber.Encode(ber.ClassApplication, ber.TypeConstructed, tag, nil, "")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, int64(r.code), ""))
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, r.msg, ""))
	return p
}

func (s *Server) search(op *ber.Packet, controls []*ber.Packet) (entries []*ber.Packet, done, ctrl *ber.Packet) {
	base := str(op.Children[0])
	scope := integer(op.Children[1])
	filter := op.Children[6]
	var attrs []string
	for _, a := range op.Children[7].Children {
		attrs = append(attrs, str(a))
	}
	paged, pageSize, cookie := false, 0, ""
	ext := extendedDNFlag(controls)
	for _, c := range controls {
		if len(c.Children) > 0 && str(c.Children[0]) == pagingOID {
			paged = true
			v := c.Children[len(c.Children)-1]
			inner, err := ber.DecodePacketErr(v.ByteValue)
			if err == nil && len(inner.Children) == 2 {
				pageSize = int(integer(inner.Children[0]))
				cookie = str(inner.Children[1])
			}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Searches++
	for _, a := range attrs {
		if strings.Contains(strings.ToLower(a), ";range=") {
			s.stats.RangedRequests++
		}
	}
	if base == "" && scope == 0 {
		e := &entry{dn: "", attrs: map[string][]string{
			"defaultNamingContext":       {s.opts.BaseDN},
			"rootDomainNamingContext":    {s.opts.BaseDN},
			"configurationNamingContext": {"CN=Configuration," + s.opts.BaseDN},
			"schemaNamingContext":        {"CN=Schema,CN=Configuration," + s.opts.BaseDN},
			"domainFunctionality":        {"7"}, "forestFunctionality": {"7"}, "domainControllerFunctionality": {"7"},
			"dnsHostName": {"ldaptest.contoso.test"}, "isGlobalCatalogReady": {"TRUE"},
			// Samba lists permissive modify too, but ignores it for member.
			"supportedControl": {pagingOID, PermissiveModifyOID},
		}}
		if s.opts.DSA != "" {
			e.attrs["dsServiceName"] = []string{s.DSServiceName()}
			e.attrs["dnsHostName"] = []string{strings.ToLower(s.opts.DSA) + ".contoso.test"}
			// No USNs are kept here: a poll for groups changed since a mark
			// (uSNChanged>=N, a filter this server never matches) finds
			// nothing. Drift repair is tested against Samba.
			e.attrs["highestCommittedUSN"] = []string{"1"}
		}
		if s.opts.NotGC {
			e.attrs["isGlobalCatalogReady"] = []string{"FALSE"}
		}
		return []*ber.Packet{s.encodeEntry(e, attrs, -1)}, ldapResult(appSearchDone, result{}), nil
	}

	var dns []string
	if paged && cookie != "" {
		var ok bool
		dns, ok = s.paging[cookie]
		delete(s.paging, cookie)
		if !ok {
			return nil, ldapResult(appSearchDone, result{53, "00002024: paged results cookie is invalid"}), nil
		}
	} else {
		nb := ldapdn.Norm(base)
		if _, ok := s.entries[nb]; !ok && base != "" {
			return nil, ldapResult(appSearchDone, result{32, "0000208D: NameErr: DSID-03100241, problem 2001 (NO_OBJECT)"}), nil
		}
		for k, e := range s.entries {
			if inScope(k, nb, scope) && match(e, filter) {
				dns = append(dns, k)
			}
		}
		sort.Strings(dns)
	}
	if paged {
		s.stats.PagedSearches++
		if pageSize == 0 { // abandon
			return nil, ldapResult(appSearchDone, result{}), pagingControl(0, "")
		}
		size := min(pageSize, s.opts.MaxPageSize)
		next := ""
		if len(dns) > size {
			s.nextCk++
			next = "ck" + strconv.Itoa(s.nextCk)
			s.paging[next] = dns[size:]
			dns = dns[:size]
		}
		ctrl = pagingControl(0, next)
	}
	r := result{}
	if !paged && len(dns) > s.opts.MaxPageSize {
		dns = dns[:s.opts.MaxPageSize]
		r = result{4, "size limit exceeded (MaxPageSize)"}
		s.stats.SizeLimitErrors++
	}
	for _, k := range dns {
		if e := s.entries[k]; e != nil {
			entries = append(entries, s.encodeEntry(e, attrs, ext))
		}
	}
	s.stats.MaxPageReturned = max(s.stats.MaxPageReturned, len(entries))
	return entries, ldapResult(appSearchDone, r), ctrl
}

func pagingControl(size int, cookie string) *ber.Packet {
	c := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	c.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, pagingOID, ""))
	v := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	v.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(size), ""))
	v.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, cookie, ""))
	c.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(v.Bytes()), ""))
	return c
}

func inScope(dn, base string, scope int64) bool {
	switch scope {
	case 0:
		return dn == base
	case 1:
		return ldapdn.Parent(dn) == base && dn != base
	}
	return base == "" || dn == base || strings.HasSuffix(dn, ","+base)
}

// extendedDNFlag is the flag of the extended DN control (0 hex, 1 string
// form) among controls, or -1 without it.
func extendedDNFlag(controls []*ber.Packet) int {
	for _, c := range controls {
		if len(c.Children) == 0 || str(c.Children[0]) != ad.OIDExtendedDN {
			continue
		}
		v := c.Children[len(c.Children)-1]
		if len(c.Children) < 2 || v == c.Children[0] {
			return 0
		}
		if inner, err := ber.DecodePacketErr(v.ByteValue); err == nil && len(inner.Children) == 1 {
			return int(integer(inner.Children[0]))
		}
		return 0
	}
	return -1
}

// dnAttrs are the DN-valued attributes the extended DN control extends.
var dnAttrs = map[string]bool{"member": true, "memberof": true, "managedby": true, "manager": true}

// extendDN writes dn as the extended DN control does: "<GUID=g>;<SID=s>;dn"
// from the object's objectGUID and objectSid (SID only when it has one), in
// hex (flag 0) or string form (flag 1); a DN the server does not hold is
// returned as it is.
func (s *Server) extendDN(dn string, flag int) string {
	e := s.entries[ldapdn.Norm(dn)]
	if e == nil {
		return dn
	}
	_, g := e.get("objectGUID")
	if len(g) != 1 {
		return dn
	}
	out := ""
	if flag == 1 {
		guid, err := ad.GUIDFromAD([]byte(g[0]))
		if err != nil {
			return dn
		}
		out = "<GUID=" + guid.String() + ">;"
	} else {
		out = "<GUID=" + hex.EncodeToString([]byte(g[0])) + ">;"
	}
	if _, sid := e.get("objectSid"); len(sid) == 1 {
		if flag == 1 {
			if str, err := ad.SIDFromAD([]byte(sid[0])); err == nil {
				out += "<SID=" + str + ">;"
			}
		} else {
			out += "<SID=" + hex.EncodeToString([]byte(sid[0])) + ">;"
		}
	}
	return out + dn
}

// encodeEntry writes the requested attributes, splitting multi-valued ones
// at MaxValRange the way Windows does, and (ext >= 0) extending DNs as the
// extended DN control asks, inside ranged answers too.
func (s *Server) encodeEntry(e *entry, attrs []string, ext int) *ber.Packet {
	p := ber.Encode(ber.ClassApplication, ber.TypeConstructed, appSearchEntry, nil, "")
	name := e.dn
	if ext >= 0 {
		name = s.extendDN(e.dn, ext)
	}
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, name, ""))
	list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	add := func(name string, vals []string) {
		if base, _, _ := strings.Cut(name, ";"); ext >= 0 && dnAttrs[strings.ToLower(base)] {
			x := make([]string, len(vals))
			for i, v := range vals {
				x[i] = s.extendDN(v, ext)
			}
			vals = x
		}
		a := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		a.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, name, ""))
		set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
		for _, v := range vals {
			set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, v, ""))
		}
		a.AppendChild(set)
		list.AppendChild(a)
		s.stats.MaxValsReturned = max(s.stats.MaxValsReturned, len(vals))
	}
	ranged := func(name string, vals []string, low, high int) {
		if high < 0 || high >= len(vals)-1 || high-low+1 > s.opts.MaxValRange {
			high = min(len(vals)-1, low+s.opts.MaxValRange-1)
		}
		if low >= len(vals) {
			add(fmt.Sprintf("%s;range=%d-*", name, low), nil)
			return
		}
		if high == len(vals)-1 {
			add(fmt.Sprintf("%s;range=%d-*", name, low), vals[low:])
			return
		}
		add(fmt.Sprintf("%s;range=%d-%d", name, low, high), vals[low:high+1])
	}
	all := len(attrs) == 0
	want := map[string]bool{}
	for _, a := range attrs {
		if a == "*" {
			all = true
		}
		want[strings.ToLower(a)] = true
	}
	names := make([]string, 0, len(e.attrs))
	for k := range e.attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		vals := e.attrs[k]
		if all || want[strings.ToLower(k)] {
			if len(vals) > s.opts.MaxValRange {
				ranged(k, vals, 0, -1)
			} else {
				add(k, vals)
			}
		}
	}
	for _, a := range attrs {
		if strings.EqualFold(a, "distinguishedName") && e.dn != "" {
			add(a, []string{e.dn})
		}
		if strings.EqualFold(a, "allowedAttributesEffective") && e.dn != "" {
			if w := s.allowedAttributesEffective(e); w != nil {
				add(a, w)
			}
		}
	}
	for _, a := range attrs {
		name, opt, ok := strings.Cut(a, ";")
		if !ok {
			continue
		}
		r, ok := strings.CutPrefix(strings.ToLower(opt), "range=")
		lo, hi, ok2 := strings.Cut(r, "-")
		low, err := strconv.Atoi(lo)
		if !ok || !ok2 || err != nil {
			continue
		}
		high := -1
		if hi != "*" {
			high, _ = strconv.Atoi(hi)
		}
		k, vals := e.get(name)
		if vals != nil {
			ranged(k, vals, low, high)
		}
	}
	p.AppendChild(list)
	return p
}

// binaryAttrs are the octet-string attributes filters compare byte for byte.
var binaryAttrs = map[string]bool{"objectguid": true, "objectsid": true, "invocationid": true, "sidhistory": true}

// match evaluates an RFC 4511 filter packet against e.
func match(e *entry, f *ber.Packet) bool {
	switch f.Tag {
	case 0: // and
		for _, c := range f.Children {
			if !match(e, c) {
				return false
			}
		}
		return true
	case 1: // or
		for _, c := range f.Children {
			if match(e, c) {
				return true
			}
		}
		return false
	case 2: // not
		return len(f.Children) == 1 && !match(e, f.Children[0])
	case 3: // equality
		attr, want := str(f.Children[0]), str(f.Children[1])
		if strings.EqualFold(attr, "objectCategory") {
			attr = "objectClass"
		}
		if strings.EqualFold(attr, "distinguishedName") {
			// Every object has it: its DN (compared as a DN).
			return ldapdn.Equal(e.dn, want)
		}
		_, vals := e.get(attr)
		binary := binaryAttrs[strings.ToLower(attr)] || !utf8.ValidString(want)
		for _, v := range vals {
			if binary || !utf8.ValidString(v) {
				// Octet strings: byte for byte (EqualFold would take
				// any two invalid UTF-8 bytes for the same character).
				if v == want {
					return true
				}
				continue
			}
			if strings.EqualFold(v, want) || (strings.Contains(v, "=") && ldapdn.Equal(v, want)) {
				return true
			}
		}
		return false
	case 4: // substrings
		attr := str(f.Children[0])
		_, vals := e.get(attr)
		for _, v := range vals {
			if substrMatch(strings.ToLower(v), f.Children[1].Children) {
				return true
			}
		}
		return false
	case 9: // extensible: AD's bitwise matching rules on flags attributes
		return extensibleMatch(e, f)
	case 7: // present
		attr := str(f)
		if strings.EqualFold(attr, "objectClass") || strings.EqualFold(attr, "distinguishedName") {
			return true
		}
		_, vals := e.get(attr)
		return len(vals) > 0
	}
	return false
}

// extensibleMatch evaluates (attr:rule:=value) for AD's
// LDAP_MATCHING_RULE_BIT_AND (1.2.840.113556.1.4.803) and BIT_OR (...804),
// as on userAccountControl; any other rule matches nothing here.
func extensibleMatch(e *entry, f *ber.Packet) bool {
	var rule, attr, value string
	for _, c := range f.Children {
		switch c.Tag {
		case 1:
			rule = str(c)
		case 2:
			attr = str(c)
		case 3:
			value = str(c)
		}
	}
	want, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return false
	}
	_, vals := e.get(attr)
	for _, v := range vals {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		switch rule {
		case "1.2.840.113556.1.4.803":
			if n&want == want {
				return true
			}
		case "1.2.840.113556.1.4.804":
			if n&want != 0 {
				return true
			}
		}
	}
	return false
}

func substrMatch(v string, parts []*ber.Packet) bool {
	for i, p := range parts {
		s := strings.ToLower(str(p))
		switch p.Tag {
		case 0: // initial
			if !strings.HasPrefix(v, s) {
				return false
			}
			v = v[len(s):]
		case 1: // any
			j := strings.Index(v, s)
			if j < 0 {
				return false
			}
			v = v[j+len(s):]
		case 2: // final
			return strings.HasSuffix(v, s) && i == len(parts)-1
		}
	}
	return true
}

func (s *Server) modify(op *ber.Packet, permissive bool) result {
	dn := str(op.Children[0])
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Modifies++
	if permissive {
		s.stats.PermissiveModifies++
	}
	if len(s.inject) > 0 {
		r := s.inject[0]
		s.inject = s.inject[1:]
		return result{r.Code, r.Msg}
	}
	e := s.entries[ldapdn.Norm(dn)]
	if e == nil {
		return result{32, "0000208D: NameErr: DSID-03100241, problem 2001 (NO_OBJECT)"}
	}
	if s.readOnly[ldapdn.Norm(dn)] {
		return result{50, DiagAccessDenied}
	}
	nvals := 0
	for _, ch := range op.Children[1].Children {
		nvals += len(ch.Children[1].Children[1].Children)
	}
	s.stats.ModifyValues = max(s.stats.ModifyValues, nvals)
	if s.opts.MaxValuesPerModify > 0 && nvals > s.opts.MaxValuesPerModify {
		return result{11, fmt.Sprintf("00002024: SvcErr: DSID-02080490, problem 5008 (ADMIN_LIMIT_EXCEEDED), data 0 (%d values, at most %d per modify)", nvals, s.opts.MaxValuesPerModify)}
	}
	// Samba ignores permissive modify for member (probe in reviews/windows-ad.md).
	permissive = permissive && s.opts.Mode == ModeWindows
	work := &entry{dn: e.dn, attrs: map[string][]string{}}
	for k, v := range e.attrs {
		work.attrs[k] = append([]string(nil), v...)
	}
	for _, ch := range op.Children[1].Children {
		kind := integer(ch.Children[0])
		attr := str(ch.Children[1].Children[0])
		var vals []string
		for _, v := range ch.Children[1].Children[1].Children {
			vals = append(vals, str(v))
		}
		_, cur := work.get(attr)
		if kind != 1 {
			if r := s.checkReferences(attr, vals); r.code != 0 {
				return r
			}
		}
		switch kind {
		case 0: // add
			// A set, not contains: a 5,000-value add to a large group
			// would otherwise compare every pair of DNs.
			have := make(map[string]bool, len(cur)+len(vals))
			for _, x := range cur {
				have[valueKey(x)] = true
			}
			for _, v := range vals {
				if have[valueKey(v)] {
					if permissive {
						continue
					}
					if !strings.EqualFold(attr, "member") {
						return result{20, "00002083: AtrErr: DSID-03151904, #1: 0: 00002083: DSID-03151904, problem 1006 (ATT_OR_VALUE_EXISTS), data 0"}
					}
					if s.opts.Mode == ModeSamba {
						return result{68, DiagSambaMemberExists}
					}
					return result{68, DiagWindowsMemberExists}
				}
				if strings.EqualFold(attr, "member") {
					if r := s.checkNesting(work, v); r.code != 0 {
						return r
					}
				}
				have[valueKey(v)] = true
				cur = append(cur, v)
			}
			work.set(attr, cur)
		case 1: // delete
			if len(vals) == 0 {
				work.set(attr, nil)
				continue
			}
			for _, v := range vals {
				if r, ok := s.refused[ldapdn.Norm(dn)+"|"+ldapdn.Norm(v)]; ok && strings.EqualFold(attr, "member") {
					return result{r.Code, r.Msg}
				}
				if !contains(cur, v) {
					switch {
					case permissive:
						continue
					case !strings.EqualFold(attr, "member"):
						return result{16, "00002080: AtrErr: DSID-03153943, #1: 0: 00002080: DSID-03153943, problem 1001 (NO_ATTRIBUTE_OR_VAL), data 0"}
					case s.opts.Mode == ModeSamba && len(cur) == 0:
						return result{16, DiagSambaNoSuchAttr}
					case s.opts.Mode == ModeSamba:
						return result{53, DiagSambaMemberAbsent}
					}
					return result{53, DiagWindowsMemberAbsent}
				}
				cur = remove(cur, v)
			}
			work.set(attr, cur)
		case 2: // replace
			if strings.EqualFold(attr, "groupType") && len(vals) == 1 {
				if r := s.checkGroupType(work, vals[0]); r.code != 0 {
					return r
				}
			}
			work.set(attr, vals)
		}
	}
	s.entries[ldapdn.Norm(dn)] = work
	return result{}
}

// valueKey is how values compare: DNs normalized, others case-insensitively.
func valueKey(v string) string {
	if strings.Contains(v, "=") {
		return ldapdn.Norm(v)
	}
	return strings.ToLower(v)
}

// Win32 codes of Windows' nesting rules, in LDAP 53 diagnostics.
const (
	diagGlobalLocal     = "00002145: SvcErr: DSID-031A1236, problem 5003 (WILL_NOT_PERFORM), data 0" // 8517
	diagGlobalUniversal = "00002146: SvcErr: DSID-031A1236, problem 5003 (WILL_NOT_PERFORM), data 0" // 8518
	diagUniversalLocal  = "00002147: SvcErr: DSID-031A1236, problem 5003 (WILL_NOT_PERFORM), data 0" // 8519
	// A direct global <-> domain local change (Windows: via universal only).
	diagScopeChange = "00000057: LdapErr: DSID-0C090D7A, comment: Error in attribute conversion operation, data 0, v4563"
)

// scopeOf is the scope bits of an entry's groupType, 0 for a non-group.
func scopeOf(e *entry) int32 {
	_, v := e.get("groupType")
	if len(v) != 1 {
		return 0
	}
	n, _ := strconv.ParseInt(v[0], 10, 64)
	return int32(n) & 0xE
}

// nestingRule: may a group of scope parent have a group of scope child as a
// member? "" when yes, else Windows' diagnostic.
func nestingRule(parent, child int32) string {
	switch {
	case parent == 0x2 && child == 0x4:
		return diagGlobalLocal
	case parent == 0x2 && child == 0x8:
		return diagGlobalUniversal
	case parent == 0x8 && child == 0x4:
		return diagUniversalLocal
	}
	return ""
}

// checkNesting applies Windows' nesting rules (ModeWindows only) to adding
// member v to group g.
func (s *Server) checkNesting(g *entry, v string) result {
	child := s.entries[ldapdn.Norm(v)]
	if s.opts.Mode != ModeWindows || child == nil || scopeOf(g) == 0 || scopeOf(child) == 0 {
		return result{}
	}
	if d := nestingRule(scopeOf(g), scopeOf(child)); d != "" {
		return result{53, d}
	}
	return result{}
}

// checkGroupType applies Windows' conversion rules (ModeWindows only) to
// giving g the groupType gt: global and domain local convert only to and
// from universal, and the new scope must fit g's member groups and the
// groups g is a member of.
func (s *Server) checkGroupType(g *entry, gt string) result {
	n, err := strconv.ParseInt(gt, 10, 64)
	from := scopeOf(g)
	if s.opts.Mode != ModeWindows || err != nil || from == 0 {
		return result{}
	}
	to := int32(n) & 0xE
	if (from == 0x2 && to == 0x4) || (from == 0x4 && to == 0x2) {
		return result{53, diagScopeChange}
	}
	_, members := g.get("member")
	for _, m := range members {
		if c := s.entries[ldapdn.Norm(m)]; c != nil && scopeOf(c) != 0 {
			if d := nestingRule(to, scopeOf(c)); d != "" {
				return result{53, d}
			}
		}
	}
	for _, p := range s.entries {
		_, pm := p.get("member")
		if scopeOf(p) != 0 && contains(pm, g.dn) {
			if d := nestingRule(scopeOf(p), to); d != "" {
				return result{53, d}
			}
		}
	}
	return result{}
}

func contains(vals []string, v string) bool {
	for _, x := range vals {
		if strings.EqualFold(x, v) || (strings.Contains(v, "=") && ldapdn.Equal(x, v)) {
			return true
		}
	}
	return false
}

func remove(vals []string, v string) []string {
	out := vals[:0]
	for _, x := range vals {
		if !(strings.EqualFold(x, v) || (strings.Contains(v, "=") && ldapdn.Equal(x, v))) {
			out = append(out, x)
		}
	}
	return out
}

func (s *Server) add(op *ber.Packet) result {
	dn := str(op.Children[0])
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Adds++
	k := ldapdn.Norm(dn)
	if _, ok := s.entries[k]; ok {
		return result{68, "00002071: UpdErr: DSID-0305038D, problem 6005 (ENTRY_EXISTS), data 0"}
	}
	if _, ok := s.entries[ldapdn.Norm(ldapdn.Parent(dn))]; !ok {
		return result{32, "0000208D: NameErr: DSID-0310028C, problem 2001 (NO_OBJECT)"}
	}
	if r := s.checkRDN(dn); r.code != 0 {
		return r
	}
	e := &entry{dn: dn, attrs: map[string][]string{}}
	for _, a := range op.Children[1].Children {
		var vals []string
		for _, v := range a.Children[1].Children {
			vals = append(vals, str(v))
		}
		if r := s.checkReferences(str(a.Children[0]), vals); r.code != 0 {
			return r
		}
		e.set(str(a.Children[0]), vals)
	}
	s.assignIdentity(e)
	s.entries[k] = e
	return result{}
}

// assignIdentity gives an object added over LDAP what the DC assigns: an
// objectGUID and, for a security principal, an objectSid in the domain.
// (A DC refuses an objectGUID in an add; this server keeps one a test sends.)
func (s *Server) assignIdentity(e *entry) {
	if _, g := e.get("objectGUID"); len(g) == 0 {
		s.nextGUID++
		// Version 4 GUIDs as a DC makes them, numbered so that a run is
		// reproducible; the high bytes make them binary, not text.
		var b ad.GUID
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%d", s.opts.BaseDN, s.nextGUID)))
		copy(b[:], sum[:16])
		b[6] = b[6]&0x0f | 0x40
		b[8] = b[8]&0x3f | 0x80
		e.set("objectGUID", []string{string(b.AD())})
	}
	if _, sid := e.get("objectSid"); len(sid) > 0 {
		return
	}
	_, classes := e.get("objectClass")
	for _, c := range classes {
		if strings.EqualFold(c, "group") || strings.EqualFold(c, "user") || strings.EqualFold(c, "computer") {
			b, err := ad.SIDToAD(fmt.Sprintf("%s-%d", s.DomainSID(), s.nextRID))
			if err != nil {
				s.t.Errorf("ldaptest: objectSid: %v", err)
				return
			}
			s.nextRID++
			e.set("objectSid", []string{string(b)})
			return
		}
	}
}

// checkRDN applies the naming rules of a CN: at most 64 characters (the
// schema's rangeUpper of cn, 19 on both servers) and, on Windows, no line
// feed or other control character (64 namingViolation; Samba accepts them).
func (s *Server) checkRDN(dn string) result {
	rdns, err := ldapdn.Parse(dn)
	if err != nil || len(rdns) == 0 || len(rdns[0]) != 1 || !strings.EqualFold(rdns[0][0].Type, "CN") {
		return result{}
	}
	v := rdns[0][0].Value
	if n := len(utf16.Encode([]rune(v))); n > 64 {
		return result{19, fmt.Sprintf("00002082: AtrErr: DSID-03152E8A, #1: 0: 00002082: DSID-03152E8A, problem 1005 (CONSTRAINT_ATT_TYPE), data 0, Att 3 (cn): %d characters, at most 64", n)}
	}
	if s.opts.Mode == ModeWindows && strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return result{64, "00002099: NamErr: DSID-0305109C, problem 2005 (NAMING_VIOLATION), data 0, best match of:\n\t'" + ldapdn.Parent(dn) + "'"}
	}
	return result{}
}

func (s *Server) del(dn string) result {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := ldapdn.Norm(dn)
	if _, ok := s.entries[k]; !ok {
		return result{32, "0000208D: NameErr: DSID-03100241, problem 2001 (NO_OBJECT)"}
	}
	for other := range s.entries {
		if strings.HasSuffix(other, ","+k) {
			return result{66, "00002015: SvcErr: DSID-031A1276, problem 5003 (WILL_NOT_PERFORM)"}
		}
	}
	delete(s.entries, k)
	return result{}
}

func (s *Server) modDN(op *ber.Packet) result {
	dn, newRDN := str(op.Children[0]), str(op.Children[1])
	parent := ldapdn.Parent(dn)
	if len(op.Children) > 3 {
		parent = str(op.Children[3])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := ldapdn.Norm(dn)
	e, ok := s.entries[k]
	if !ok {
		return result{32, "0000208D: NameErr: DSID-03100241, problem 2001 (NO_OBJECT)"}
	}
	if _, ok := s.entries[ldapdn.Norm(parent)]; !ok {
		return result{32, "0000208D: NameErr: DSID-03100241, problem 2001 (NO_OBJECT)"}
	}
	newDN := newRDN + "," + parent
	if r := s.checkRDN(newDN); r.code != 0 {
		return r
	}
	if _, ok := s.entries[ldapdn.Norm(newDN)]; ok {
		return result{68, "00002071: UpdErr: DSID-0305038D, problem 6005 (ENTRY_EXISTS), data 0"}
	}
	delete(s.entries, k)
	e.dn = newDN
	if rdns, err := ldapdn.Parse(newRDN); err == nil && len(rdns) == 1 {
		e.set(rdns[0][0].Type, []string{rdns[0][0].Value})
	}
	s.entries[ldapdn.Norm(newDN)] = e
	return result{}
}
