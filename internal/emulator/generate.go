package emulator

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"unicode"

	"github.com/writeback/writeback/internal/ldapdn"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// GenOptions size a synthetic tenant.
type GenOptions struct {
	Groups      int
	Users       int
	Memberships int // total direct memberships, including Largest and Nested
	Nested      int // group-in-group memberships (no cycles)
	Largest     int // members of the largest group
	// CloudOnlyRatio is the fraction of users not synced from AD (0..1).
	CloudOnlyRatio float64
	Seed           uint64
	TenantID       string // default: derived from Seed
	Domain         string // AD DNS domain of synced users (default contoso.com)
	// Anchors are existing AD users (e.g. a lab's) that the first synced
	// users point to, so their onPremises* anchors resolve in that AD.
	Anchors []Anchor
}

// Anchor is an AD user's identity as Entra Connect would have synced it.
type Anchor struct {
	GUID        string `json:"guid"` // objectGUID, canonical form
	SID         string `json:"sid"`
	SAM         string `json:"sAMAccountName"`
	DN          string `json:"dn"`
	UPN         string `json:"userPrincipalName,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

// LoadAnchors reads anchors from a JSON array of Anchor objects, or from CSV
// with a header naming the columns guid,sid,sAMAccountName,dn[,userPrincipalName,displayName].
func LoadAnchors(path string) ([]Anchor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read anchors: %w", err)
	}
	if s := strings.TrimSpace(string(b)); strings.HasPrefix(s, "[") {
		var a []Anchor
		if err := json.Unmarshal(b, &a); err != nil {
			return nil, fmt.Errorf("anchors %s: %w", path, err)
		}
		return a, checkAnchors(path, a)
	}
	r := csv.NewReader(strings.NewReader(string(b)))
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("anchors %s: %w", path, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("anchors %s: empty", path)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	get := func(row []string, name string) string {
		if i, ok := col[strings.ToLower(name)]; ok && i < len(row) {
			return row[i]
		}
		return ""
	}
	var a []Anchor
	for _, row := range rows[1:] {
		a = append(a, Anchor{GUID: get(row, "guid"), SID: get(row, "sid"), SAM: get(row, "sAMAccountName"),
			DN: get(row, "dn"), UPN: get(row, "userPrincipalName"), DisplayName: get(row, "displayName")})
	}
	return a, checkAnchors(path, a)
}

func checkAnchors(path string, a []Anchor) error {
	for i, x := range a {
		if len(x.GUID) != 36 || x.SAM == "" {
			return fmt.Errorf("anchors %s: entry %d: want guid (canonical 36-character form) and sAMAccountName", path, i+1)
		}
	}
	return nil
}

var (
	firstNames = []string{"Ada", "José", "Zoë", "Åsa", "Łukasz", "Jürgen", "Siobhán", "Nguyễn", "李", "Amélie", "Søren",
		"Fatima", "Oğuz", "Chloé", "Björn", "Ngozi", "Mateo", "Yuki", "Ana-María", "Jean-Luc", "O'Neil", "Priya", "Dmitrij", "Émile"}
	lastNames = []string{"Müller", "O'Brien", "García", "Smith", "de la Cruz", "Ødegaard", "Kowalski", "Nakamura", "Björk",
		"Ó Súilleabháin", "Dubois", "Rossi", "Nováková", "Öztürk", "Van der Berg", "Chen", "Ivanova", "Smith, Jr.", "Lévesque", "Zhang"}
	departments = []string{"Engineering", "Sales", "Marketing", "Finance", "HR", "Legal", "Support", "Operations", "IT",
		"Research", "Facilities", "Procurement", "Security", "Data", "Design"}
	places = []string{"Zürich", "São Paulo", "Kraków", "Malmö", "東京", "Αθήνα", "Москва", "Montréal", "København", "Reykjavík",
		"Seattle", "London", "Bengaluru", "München", "Côte d'Ivoire"}
	// decorate produces display names with every character AD escapes in a DN
	// (, + " \ < > ; = # and leading/trailing spaces).
	decorate = []func(d, p string, i int) string{
		func(d, p string, i int) string { return d + " " + p },
		func(d, p string, i int) string { return d + ", " + p },
		func(d, p string, i int) string { return "R&D + " + d },
		func(d, p string, i int) string { return `"` + d + `" Team` },
		func(d, p string, i int) string { return d + ` \ ` + p },
		func(d, p string, i int) string { return "<" + d + " Admins>" },
		func(d, p string, i int) string { return d + "; " + p + " Ops" },
		func(d, p string, i int) string { return "Role=" + d },
		func(d, p string, i int) string { return "#" + d + " " + p },
		func(d, p string, i int) string { return " " + d + " padded " },
		func(d, p string, i int) string {
			return fmt.Sprintf("%s – %s – Project Team with a Very Long Name That Exceeds Sixty-Four Characters %d", d, p, i)
		},
		func(d, p string, i int) string { return d + " Team" }, // frequent plain name: duplicates
	}
)

// Generate builds a synthetic tenant. The same options give the same tenant.
func Generate(o GenOptions) (TenantFile, error) {
	if err := o.validate(); err != nil {
		return TenantFile{}, err
	}
	if o.Domain == "" {
		o.Domain = "contoso.com"
	}
	g := &generator{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x5eed)), sams: map[string]int{}}
	f := TenantFile{TenantID: o.TenantID}
	if f.TenantID == "" {
		f.TenantID = g.uuid()
	}
	g.dc = "DC=" + strings.ReplaceAll(o.Domain, ".", ",DC=")
	g.domainSID = fmt.Sprintf("S-1-5-21-%d-%d-%d", 1000000000+g.rng.IntN(1000000000), 1000000000+g.rng.IntN(1000000000), 1000000000+g.rng.IntN(1000000000))
	g.users(&f)
	// A few non-user members: writeback must report these, not drop them.
	if o.Groups > 0 && o.Users > 0 {
		f.Objects = []Object{{ID: g.uuid(), Type: "device", DisplayName: "LAPTOP-0001"}, {ID: g.uuid(), Type: "orgContact", DisplayName: "Partner Contact"}}
	}
	g.groups(&f)
	if o.Groups == 0 {
		return f, nil
	}
	g.memberships(&f)
	return f, nil
}

func (o GenOptions) validate() error {
	switch {
	case o.Groups < 0 || o.Users < 0 || o.Memberships < 0 || o.Nested < 0 || o.Largest < 0:
		return fmt.Errorf("generate: counts must not be negative")
	case o.Largest > o.Users:
		return fmt.Errorf("generate: --largest %d exceeds --users %d (the largest group's members are users)", o.Largest, o.Users)
	case o.Nested > 0 && o.Groups < 2:
		return fmt.Errorf("generate: --nested needs at least 2 groups")
	case o.Largest+o.Nested > o.Memberships:
		return fmt.Errorf("generate: --memberships %d is less than --largest + --nested (%d)", o.Memberships, o.Largest+o.Nested)
	case o.CloudOnlyRatio < 0 || o.CloudOnlyRatio > 1:
		return fmt.Errorf("generate: --cloud-only-ratio %v: want 0..1", o.CloudOnlyRatio)
	case o.Groups > 0 && o.Users == 0 && o.Memberships > o.Nested:
		return fmt.Errorf("generate: memberships need users")
	}
	if maxNested := o.Groups * (o.Groups - 1) / 2; o.Nested > maxNested {
		return fmt.Errorf("generate: --nested %d: at most %d without cycles for %d groups", o.Nested, maxNested, o.Groups)
	}
	return nil
}

// generator is one Generate: every random draw comes from rng, in a fixed
// order, so the same options give the same tenant.
type generator struct {
	o         GenOptions
	rng       *rand.Rand
	dc        string // the domain's DN
	domainSID string
	sams      map[string]int // sAMAccountName -> times used
	synced    int            // synced users so far
}

func (g *generator) uuid() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], g.rng.Uint64())
	binary.LittleEndian.PutUint64(b[8:], g.rng.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// users makes the users: cloud-only by CloudOnlyRatio, else synced, the
// first ones with the given anchors (real lab users).
func (g *generator) users(f *TenantFile) {
	o := g.o
	f.Users = make([]User, 0, o.Users)
	for i := range o.Users {
		first, last := firstNames[g.rng.IntN(len(firstNames))], lastNames[g.rng.IntN(len(lastNames))]
		u := User{ID: g.uuid(), DisplayName: first + " " + last, GivenName: first, Surname: last}
		cloud := g.rng.Float64() < o.CloudOnlyRatio && g.synced >= len(o.Anchors)
		if cloud {
			u.UserPrincipalName = fmt.Sprintf("%s.%d@%s", asciiName(first+"."+last), i, strings.Split(o.Domain, ".")[0]+".onmicrosoft.com")
		} else {
			g.sync(&u, i, first, last)
		}
		f.Users = append(f.Users, u)
	}
}

// sync gives user i its on-premises identity: the next anchor, else a
// made-up one in the domain.
func (g *generator) sync(u *User, i int, first, last string) {
	o := g.o
	u.OnPremisesSyncEnabled = ptrTrue()
	u.OnPremisesDomainName = o.Domain
	if g.synced < len(o.Anchors) {
		a := o.Anchors[g.synced]
		u.OnPremisesObjectIdentifier, u.OnPremisesSecurityIdentifier = strings.ToLower(a.GUID), a.SID
		u.OnPremisesSamAccountName, u.OnPremisesDistinguishedName = a.SAM, a.DN
		if a.DisplayName != "" {
			u.DisplayName = a.DisplayName
		}
		u.UserPrincipalName = a.UPN
		if u.UserPrincipalName == "" {
			u.UserPrincipalName = a.SAM + "@" + o.Domain
		}
	} else {
		u.OnPremisesObjectIdentifier = g.uuid()
		u.OnPremisesSecurityIdentifier = fmt.Sprintf("%s-%d", g.domainSID, 1105+i)
		sam := asciiName(first + "." + last)
		if len(sam) > 15 {
			sam = sam[:15]
		}
		sam = strings.Trim(sam, ".") // AD refuses a trailing period
		g.sams[sam]++
		if n := g.sams[sam]; n > 1 {
			sam = fmt.Sprintf("%s%d", sam, n)
		}
		u.OnPremisesSamAccountName = sam
		u.OnPremisesDistinguishedName = "CN=" + ldapdn.Escape(u.DisplayName) + fmt.Sprintf(" %d,OU=Users,", i) + g.dc
		u.UserPrincipalName = sam + "@" + o.Domain
	}
	u.OnPremisesImmutableId = immutableID(u.OnPremisesObjectIdentifier)
	u.OnPremisesUserPrincipalName = u.UserPrincipalName
	g.synced++
}

// groups makes the groups, without members.
func (g *generator) groups(f *TenantFile) {
	f.Groups = make([]Group, g.o.Groups)
	for i := range f.Groups {
		d, p := departments[g.rng.IntN(len(departments))], places[g.rng.IntN(len(places))]
		name := decorate[g.rng.IntN(len(decorate))](d, p, i)
		gr := Group{ID: g.uuid(), DisplayName: name, SecurityEnabled: true, MailNickname: fmt.Sprintf("grp%05d", i)}
		if i%10 == 3 {
			gr.Description = "Synthetic group for " + d + " in " + p
		}
		if i%97 == 5 {
			gr.GroupTypes = []string{"Unified"}
			gr.MailEnabled = true
			gr.Mail = gr.MailNickname + "@" + g.o.Domain
		}
		f.Groups[i] = gr
	}
}

// memberships places the members: the largest group (group 0, users only),
// the nested groups, and the rest skewed like a real directory. A member
// index below len(Users) is a user, then come the groups, then the objects.
func (g *generator) memberships(f *TenantFile) {
	o, rng := g.o, g.rng
	memberSets := make([]map[int32]struct{}, o.Groups)
	add := func(g int, m int32) bool {
		if memberSets[g] == nil {
			memberSets[g] = map[int32]struct{}{}
		}
		if _, dup := memberSets[g][m]; dup {
			return false
		}
		memberSets[g][m] = struct{}{}
		return true
	}
	nUsers := int32(o.Users)
	for _, ui := range rng.Perm(o.Users)[:o.Largest] {
		add(0, int32(ui))
	}
	// Nested: parent index < child index, so no cycles.
	for n := 0; n < o.Nested; {
		p := rng.IntN(o.Groups - 1)
		c := p + 1 + rng.IntN(o.Groups-p-1)
		if add(p, nUsers+int32(c)) {
			n++
		}
	}
	// The rest, skewed: most groups small, a few large.
	rest := o.Memberships - o.Largest - o.Nested
	others := o.Groups - 1
	if others == 0 {
		others, rest = 1, 0
	}
	objBase := nUsers + int32(o.Groups)
	for placed, tries := 0, 0; placed < rest && tries < rest*20; tries++ {
		g := 1 + int(float64(others)*rng.Float64()*rng.Float64())
		if g >= o.Groups {
			g = o.Groups - 1
		}
		var m int32
		if len(f.Objects) > 0 && rng.IntN(5000) == 0 {
			m = objBase + int32(rng.IntN(len(f.Objects)))
		} else {
			m = int32(rng.IntN(o.Users))
		}
		if add(g, m) {
			placed++
		}
	}
	for gi, set := range memberSets {
		for _, m := range slices.Sorted(maps.Keys(set)) {
			var id string
			switch {
			case m < nUsers:
				id = f.Users[m].ID
			case m < objBase:
				id = f.Groups[m-nUsers].ID
			default:
				id = f.Objects[m-objBase].ID
			}
			f.Groups[gi].Members = append(f.Groups[gi].Members, id)
		}
	}
}

func ptrTrue() *bool { t := true; return &t }

// asciiName folds a display name into a lower-case ASCII login.
func asciiName(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	s, _, _ = transform.String(t, s)
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.':
			b.WriteRune(r)
		case r == 'ø':
			b.WriteByte('o')
		case r == 'ł':
			b.WriteByte('l')
		}
	}
	if b.Len() == 0 {
		return "user"
	}
	return b.String()
}

// immutableID is what Connect Sync puts in onPremisesImmutableId by default:
// the objectGUID's bytes (AD layout), base64.
func immutableID(guid string) string {
	h := strings.ReplaceAll(guid, "-", "")
	if len(h) != 32 {
		return ""
	}
	var b [16]byte
	for i := range 16 {
		fmt.Sscanf(h[2*i:2*i+2], "%02x", &b[i])
	}
	// Canonical text is big-endian for the first three fields; AD stores them little-endian.
	b[0], b[1], b[2], b[3] = b[3], b[2], b[1], b[0]
	b[4], b[5] = b[5], b[4]
	b[6], b[7] = b[7], b[6]
	return base64.StdEncoding.EncodeToString(b[:])
}

// WriteTenant writes f as JSON with one object a line, streaming, so a
// 500,000-membership tenant is not built in memory twice.
func WriteTenant(w io.Writer, f TenantFile) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	fmt.Fprintf(bw, "{\"tenantId\": %q,\n", f.TenantID)
	section := func(name string, n int, item func(i int) any, last bool) error {
		fmt.Fprintf(bw, "\"%s\": [\n", name)
		for i := range n {
			if err := enc.Encode(item(i)); err != nil { // Encode ends with a newline
				return err
			}
			if i < n-1 {
				// Put the comma before the newline Encode wrote.
				bw.WriteString(",\n")
			}
		}
		if last {
			bw.WriteString("]\n")
		} else {
			bw.WriteString("],\n")
		}
		return nil
	}
	if err := section("users", len(f.Users), func(i int) any { return f.Users[i] }, false); err != nil {
		return err
	}
	if err := section("objects", len(f.Objects), func(i int) any { return f.Objects[i] }, false); err != nil {
		return err
	}
	if err := section("groups", len(f.Groups), func(i int) any { return f.Groups[i] }, true); err != nil {
		return err
	}
	bw.WriteString("}\n")
	return bw.Flush()
}
