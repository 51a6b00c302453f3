package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/dlclark/regexp2"

	"github.com/writeback/writeback/internal/expr"
	"github.com/writeback/writeback/internal/ldapdn"
)

// Scope selects which cloud groups are provisioned.
type Scope struct {
	// Mode: all (every security group, ANDed with Microsoft's default clause) or selected.
	Mode string `yaml:"mode,omitempty"`
	// Groups are object IDs provisioned in mode selected.
	Groups []string `yaml:"groups,omitempty"`
	// MemberOf is the object ID of a scoping group whose direct member groups are in scope (mode selected).
	MemberOf string `yaml:"memberOf,omitempty"`
	// Filters are ORed; the clauses inside one filter are ANDed (as in the Entra portal).
	Filters []Filter `yaml:"filters,omitempty"`
}

// Filter is one scoping filter: all clauses must hold.
type Filter struct {
	Clauses []Clause `yaml:"clauses"`
}

// Clause is one scoping clause, with Microsoft's operator names (EQUALS, IS TRUE, REGEX MATCH, ...).
type Clause struct {
	Attribute string `yaml:"attribute"`
	Operator  string `yaml:"operator"`
	Value     string `yaml:"value,omitempty"`
}

// Mappings maps AD attributes to expressions. Unset entries keep Cloud Sync's defaults.
type Mappings struct {
	// Attributes by AD attribute name (cn, description, displayName, sAMAccountName,
	// parentDistinguishedName, ...). The anchor attributes are fixed and cannot be mapped.
	Attributes map[string]Mapping `yaml:"attributes,omitempty"`
	// GroupType: universalSecurity (default), globalSecurity, domainLocalSecurity.
	GroupType string `yaml:"groupType,omitempty"`
	// ManagedByOwner writes the group's first owner that resolves to an AD
	// user (as a member would) to managedBy. Off by default.
	ManagedByOwner bool `yaml:"managedByOwner,omitempty"`
	// groupTypeDefault: GroupType was not in the file (see GroupTypeSet).
	groupTypeDefault bool
}

// GroupTypeSet reports whether mappings.groupType was set in the file: a
// group taken over from AD keeps its own group type unless it was.
func (m Mappings) GroupTypeSet() bool { return m.GroupType != "" && !m.groupTypeDefault }

// Mapping is one attribute's expression in Microsoft's expression language.
type Mapping struct {
	Expression string `yaml:"expression"`
	// Apply: always (default) or onCreate.
	Apply string `yaml:"apply,omitempty"`
}

// Safety guards destructive changes.
type Safety struct {
	// DeleteThreshold: a round that would delete more groups than this
	// stops: a count ("500"), a share of the groups writeback owns ("5%"),
	// or both ("500 or 5%": the stricter applies). Default "500 or 5%".
	DeleteThreshold Threshold `yaml:"deleteThreshold,omitempty"`
	// OnDelete: what to do when a group is hard-deleted in Entra: delete (default), move, convert, leave.
	OnDelete string `yaml:"onDelete,omitempty"`
	// OnOutOfScope: what to do when a group leaves scope: leave (default), delete, move, convert.
	OnOutOfScope string `yaml:"onOutOfScope,omitempty"`
	// MoveTo is the OU for the move action.
	MoveTo string `yaml:"moveTo,omitempty"`
}

// State is where writeback keeps delta tokens, the object map and the provisioning log.
type State struct {
	// Path is the embedded state file (default writeback.db), unless
	// Postgres is set.
	Path string `yaml:"path,omitempty"`
	// Postgres keeps the state in PostgreSQL instead, shared by two or more
	// instances of which one leads (docs/ha.md).
	Postgres *Postgres `yaml:"postgres,omitempty"`
}

// Postgres is a PostgreSQL database that holds the state.
type Postgres struct {
	// URL: postgres://user@host:5432/database?sslmode=verify-full (the
	// server's certificate is verified; sslrootcert=FILE names a private CA).
	// A host other than loopback must be verified.
	URL string `yaml:"url"`
	// Password of the URL's user, when the URL has none.
	Password Secret `yaml:"password,omitempty"`
	// Takeover is how soon after the leader dies another instance takes
	// over (default 30s).
	Takeover Duration `yaml:"takeover,omitempty"`
}

// Sync is the daemon's schedule and where writeback looks for its groups.
type Sync struct {
	// Interval between incremental rounds (default 15s).
	Interval Duration `yaml:"interval,omitempty"`
	// FullReconcile is how often a full round re-reads every group and repairs drift (default 24h).
	FullReconcile Duration `yaml:"fullReconcile,omitempty"`
	// SearchBase is the subtree searched for groups carrying writeback's anchor
	// (default: the whole domain, as Cloud Sync matches). Narrow it when other
	// tools' groups carry Group_ anchors elsewhere in the domain.
	SearchBase string `yaml:"searchBase,omitempty"`
	// Workers is how many LDAP writes apply runs in parallel (default 4).
	Workers int `yaml:"workers,omitempty"`
	// MemoryLimit is a soft limit on the Go heap, in GOMEMLIMIT's syntax
	// ("300MiB", "1GiB", "off"; default 300MiB). Near it the garbage collector
	// works harder instead of letting the heap grow to twice what is live, so
	// a large tenant's full round stays in a small VM's memory; it never stops
	// the program (above it, collection is capped at about half the CPU).
	// GOMEMLIMIT in the environment wins.
	MemoryLimit string `yaml:"memoryLimit,omitempty"`
	// MemoryLimitBytes is MemoryLimit parsed (0 = off).
	MemoryLimitBytes int64 `yaml:"-"`
	// Listen is the address of the operations listener of 'writeback run'
	// (/metrics, /healthz, /readyz and the status page): "127.0.0.1:9464".
	// Empty (the default): no listener. An address beyond loopback needs
	// ListenToken.
	Listen string `yaml:"listen,omitempty"`
	// ListenTLS serves the listener over HTTPS with this certificate and key.
	ListenTLS ListenTLS `yaml:"listenTls,omitempty"`
	// ListenToken is the bearer token that /metrics and the status page
	// require (Authorization: Bearer ...); /healthz and /readyz stay open
	// for probes. Required when Listen is not a loopback address.
	ListenToken Secret `yaml:"listenToken,omitempty"`
}

// ListenTLS is the listener's certificate and key (PEM files).
type ListenTLS struct {
	CertFile string `yaml:"certFile,omitempty"`
	KeyFile  string `yaml:"keyFile,omitempty"`
}

// ListenLoopback reports whether addr (host:port) only accepts connections
// from this machine: a loopback IP or "localhost". An empty host (":9464")
// listens on every interface.
func ListenLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Log is the logging format.
type Log struct {
	Format string `yaml:"format,omitempty"` // text or json
	Level  string `yaml:"level,omitempty"`  // debug, info, warn, error
}

func (s *Scope) applyDefaults() {
	if s.Mode == "" {
		s.Mode = "all"
	}
}

func (s *Scope) validate() []error {
	var errs []error
	switch s.Mode {
	case "all":
		if len(s.Groups) > 0 || s.MemberOf != "" {
			errs = append(errs, fmt.Errorf("scope.groups/scope.memberOf need scope.mode: selected"))
		}
	case "selected":
		if len(s.Groups) == 0 && s.MemberOf == "" {
			errs = append(errs, fmt.Errorf("scope.mode selected: list scope.groups or set scope.memberOf"))
		}
	default:
		errs = append(errs, fmt.Errorf("scope.mode %q: want all or selected", s.Mode))
	}
	for i, f := range s.Filters {
		if len(f.Clauses) == 0 {
			errs = append(errs, fmt.Errorf("scope.filters[%d]: no clauses (a filter needs at least one)", i))
		}
		for j, c := range f.Clauses {
			where := fmt.Sprintf("scope.filters[%d].clauses[%d]", i, j)
			if c.Attribute == "" {
				errs = append(errs, fmt.Errorf("%s: attribute is required", where))
			}
			op := strings.ReplaceAll(strings.ToUpper(strings.TrimSpace(c.Operator)), "_", " ")
			switch op {
			case "EQUALS", "NOT EQUALS", "IS TRUE", "IS FALSE", "IS NULL", "IS NOT NULL", "ENDS WITH", "INCLUDES":
			case "REGEX MATCH", "NOT REGEX MATCH":
				if _, err := regexp2.Compile(c.Value, regexp2.None); err != nil {
					errs = append(errs, fmt.Errorf("%s: regular expression %q: %w", where, c.Value, err))
				}
			case "GREATER THAN", "GREATER THAN OR EQUALS":
				if _, err := fmt.Sscan(c.Value, new(int64)); err != nil {
					errs = append(errs, fmt.Errorf("%s: %s needs an integer value, got %q", where, c.Operator, c.Value))
				}
			default:
				errs = append(errs, fmt.Errorf("%s: operator %q: want EQUALS, NOT EQUALS, IS TRUE, IS FALSE, IS NULL, IS NOT NULL, REGEX MATCH, NOT REGEX MATCH, GREATER_THAN, GREATER_THAN_OR_EQUALS, ENDS_WITH or INCLUDES", where, c.Operator))
			}
		}
	}
	return errs
}

func (m *Mappings) applyDefaults() {
	if m.GroupType == "" {
		m.GroupType = "universalSecurity"
		m.groupTypeDefault = true
	}
}

func (m *Mappings) validate() []error {
	var errs []error
	switch m.GroupType {
	case "universalSecurity", "globalSecurity", "domainLocalSecurity":
	default:
		errs = append(errs, fmt.Errorf("mappings.groupType %q: want universalSecurity, globalSecurity or domainLocalSecurity", m.GroupType))
	}
	for name := range m.Attributes {
		if m.ManagedByOwner && strings.EqualFold(name, "managedBy") {
			errs = append(errs, fmt.Errorf("mappings.attributes.%s and mappings.managedByOwner both write managedBy: keep one", name))
		}
	}
	for name, mp := range m.Attributes {
		switch mp.Apply {
		case "", "always", "onCreate":
		default:
			errs = append(errs, fmt.Errorf("mappings.attributes.%s.apply %q: want always or onCreate", name, mp.Apply))
		}
		switch strings.ToLower(name) {
		case "admindescription", "msds-externaldirectoryobjectid":
			errs = append(errs, fmt.Errorf("mappings.attributes.%s: the anchor attribute is fixed to Append(\"Group_\", [objectId]) and cannot be mapped", name))
		case "member", "objectclass", "grouptype", "distinguishedname", "objectguid", "objectsid":
			errs = append(errs, fmt.Errorf("mappings.attributes.%s cannot be mapped (membership, class and type are set by writeback; use mappings.groupType for the type)", name))
		}
		if mp.Expression == "" && !strings.EqualFold(name, "sAMAccountName") && !strings.EqualFold(name, "cn") &&
			!strings.EqualFold(name, "description") && !strings.EqualFold(name, "displayName") && !strings.EqualFold(name, "parentDistinguishedName") {
			errs = append(errs, fmt.Errorf("mappings.attributes.%s: expression is required", name))
		}
		// Parsed at load so a typo stops startup with its position, not a round later.
		if mp.Expression != "" {
			if _, err := expr.Parse(mp.Expression); err != nil {
				errs = append(errs, fmt.Errorf("mappings.attributes.%s: %w (expression %s)", name, err, mp.Expression))
			}
		}
	}
	return errs
}

func (s *Safety) applyDefaults() {
	if s.DeleteThreshold.IsZero() {
		// The share catches a tenant answering with a few percent fewer
		// groups than it has (reliability review F14: 401 of 5,001 groups,
		// 8 %, were deleted under a count of 500 alone).
		s.DeleteThreshold = Threshold{Count: 500, Percent: 5}
	}
	if s.OnDelete == "" {
		s.OnDelete = "delete"
	}
	if s.OnOutOfScope == "" {
		s.OnOutOfScope = "leave"
	}
}

func (s *Safety) validate() []error {
	var errs []error
	for _, f := range []struct{ name, v string }{{"safety.onDelete", s.OnDelete}, {"safety.onOutOfScope", s.OnOutOfScope}} {
		switch f.v {
		case "delete", "leave", "convert":
		case "move":
			if s.MoveTo == "" {
				errs = append(errs, fmt.Errorf("%s move needs safety.moveTo (an OU DN)", f.name))
			}
		default:
			errs = append(errs, fmt.Errorf("%s %q: want delete, move, convert or leave", f.name, f.v))
		}
	}
	if s.DeleteThreshold.Count < 0 || s.DeleteThreshold.Percent < 0 || s.DeleteThreshold.Percent > 100 {
		errs = append(errs, fmt.Errorf("safety.deleteThreshold %s: want a count (500), a share of the owned groups (5%%), or both (500 or 5%%)", s.DeleteThreshold))
	}
	return errs
}

func (s *State) applyDefaults() {
	if s.Path == "" {
		s.Path = "writeback.db"
	}
}
func (s *State) validate() []error {
	p := s.Postgres
	if p == nil {
		return nil
	}
	var errs []error
	if p.URL == "" {
		errs = append(errs, fmt.Errorf("state.postgres.url is required: postgres://writeback@db.example.com:5432/writeback?sslmode=verify-full"))
	} else if strings.Contains(p.URL, "@") && strings.Contains(strings.SplitN(strings.TrimPrefix(strings.TrimPrefix(p.URL, "postgresql://"), "postgres://"), "@", 2)[0], ":") {
		errs = append(errs, fmt.Errorf("state.postgres.url: a password in the URL is not accepted (it would be in the configuration); use state.postgres.password: {file: ...} or {env: ...}"))
	}
	if err := p.Password.check("state.postgres.password"); err != nil {
		errs = append(errs, err)
	}
	if p.Takeover != 0 && time.Duration(p.Takeover) < 3*time.Second {
		errs = append(errs, fmt.Errorf("state.postgres.takeover %s: at least 3s", time.Duration(p.Takeover)))
	}
	return errs
}

func (s *Sync) applyDefaults() {
	if s.Interval == 0 {
		s.Interval = Duration(15 * time.Second)
	}
	if s.FullReconcile == 0 {
		s.FullReconcile = Duration(24 * time.Hour)
	}
	if s.Workers == 0 {
		s.Workers = 4
	}
	if s.MemoryLimit == "" {
		s.MemoryLimit = "300MiB"
	}
}

func (s *Sync) validate() []error {
	var errs []error
	if time.Duration(s.Interval) < time.Second {
		errs = append(errs, fmt.Errorf("sync.interval %s: want at least 1s", time.Duration(s.Interval)))
	}
	if time.Duration(s.FullReconcile) < time.Duration(s.Interval) {
		errs = append(errs, fmt.Errorf("sync.fullReconcile %s: want at least sync.interval (%s)", time.Duration(s.FullReconcile), time.Duration(s.Interval)))
	}
	if s.Workers < 1 || s.Workers > 64 {
		errs = append(errs, fmt.Errorf("sync.workers %d: want 1..64", s.Workers))
	}
	if n, err := ParseSize(s.MemoryLimit); err != nil {
		errs = append(errs, fmt.Errorf("sync.memoryLimit %q: %w", s.MemoryLimit, err))
	} else {
		s.MemoryLimitBytes = n
	}
	if s.Listen != "" {
		if _, _, err := net.SplitHostPort(s.Listen); err != nil {
			errs = append(errs, fmt.Errorf("sync.listen %q: want host:port such as 127.0.0.1:9464: %w", s.Listen, err))
		} else if !ListenLoopback(s.Listen) && !s.ListenToken.IsSet() {
			errs = append(errs, fmt.Errorf("sync.listen %q is reachable from other machines: set sync.listenToken (e.g. {credential: listen-token}) so that only Prometheus and operators with the token read it, or listen on 127.0.0.1", s.Listen))
		}
	}
	if err := s.ListenToken.check("sync.listenToken"); err != nil {
		errs = append(errs, err)
	}
	if (s.ListenTLS.CertFile == "") != (s.ListenTLS.KeyFile == "") {
		errs = append(errs, fmt.Errorf("sync.listenTls: set both certFile and keyFile"))
	}
	if s.SearchBase != "" && !strings.Contains(s.SearchBase, "=") {
		errs = append(errs, fmt.Errorf("sync.searchBase %q: want a DN such as OU=Groups,DC=contoso,DC=com", s.SearchBase))
	}
	return errs
}

func (l *Log) applyDefaults() {
	if l.Format == "" {
		l.Format = "text"
	}
	if l.Level == "" {
		l.Level = "info"
	}
}

func (l *Log) validate() []error {
	var errs []error
	if l.Format != "text" && l.Format != "json" {
		errs = append(errs, fmt.Errorf("log.format %q: want text or json", l.Format))
	}
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q: want debug, info, warn or error", l.Level))
	}
	return errs
}

// searchBaseErrors refuses an ad.targetOU, or a constant
// parentDistinguishedName mapping, outside sync.searchBase (or ad.baseDN):
// writeback looks for its groups by anchor only there, so a group created
// elsewhere is not found and would be created again at every change
// (reliability review D3).
func (c *Config) searchBaseErrors() []error {
	base, name := c.Sync.SearchBase, "sync.searchBase"
	if base == "" {
		base, name = c.AD.BaseDN, "ad.baseDN"
	}
	if base == "" {
		return nil // the domain: checked by writeback check against the DC
	}
	var errs []error
	if ou := c.AD.TargetOU; ou != "" && !dnWithin(ou, base) {
		errs = append(errs, fmt.Errorf("ad.targetOU %q is outside %s %q: writeback finds its groups only under %s, so each group created there would be created again; put ad.targetOU under it, or widen %s", ou, name, base, name, name))
	}
	for k, m := range c.Mappings.Attributes {
		if !strings.EqualFold(k, "parentDistinguishedName") {
			continue
		}
		if v, ok := constantString(m.Expression); ok && strings.Contains(v, "=") && !dnWithin(v, base) {
			errs = append(errs, fmt.Errorf("mappings.attributes.%s %q is outside %s %q: writeback finds its groups only under %s; map it under it, or widen %s", k, v, name, base, name, name))
		}
	}
	return errs
}

// constantString is the value of an expression that is one string literal.
func constantString(expr string) (string, bool) {
	e := strings.TrimSpace(expr)
	if len(e) < 2 || e[0] != '"' || e[len(e)-1] != '"' || strings.Contains(e[1:len(e)-1], `"`) {
		return "", false
	}
	return e[1 : len(e)-1], true
}

// dnWithin reports whether dn is base or under it (case-insensitive); an
// unparsable DN is left to the other checks.
func dnWithin(dn, base string) bool {
	if _, err := ldapdn.Parse(dn); err != nil {
		return true
	}
	if _, err := ldapdn.Parse(base); err != nil {
		return true
	}
	return ldapdn.Within(dn, base)
}

// Threshold is safety.deleteThreshold: a count of groups, a percentage of the
// groups writeback owns, or both; zero fields are not set.
type Threshold struct {
	Count   int
	Percent float64
}

// IsZero reports that neither part is set (the default applies).
func (t Threshold) IsZero() bool { return t.Count == 0 && t.Percent == 0 }

// String writes the YAML form: "500", "5%" or "500 or 5%".
func (t Threshold) String() string {
	var parts []string
	if t.Count != 0 {
		parts = append(parts, strconv.Itoa(t.Count))
	}
	if t.Percent != 0 {
		parts = append(parts, strconv.FormatFloat(t.Percent, 'f', -1, 64)+"%")
	}
	return strings.Join(parts, " or ")
}

// ParseThreshold reads "500", "5%", "2.5%", "500 or 5%" (either order).
func ParseThreshold(v string) (Threshold, error) {
	var t Threshold
	bad := fmt.Errorf("deleteThreshold %q: want a count (500), a share of the owned groups (5%%), or both (500 or 5%%)", v)
	parts := strings.Split(v, " or ")
	if len(parts) > 2 {
		return t, bad
	}
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if n, ok := strings.CutSuffix(p, "%"); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
			if err != nil || t.Percent != 0 || f <= 0 || f > 100 {
				return t, bad
			}
			t.Percent = f
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || t.Count != 0 || n < 0 {
			return t, bad
		}
		t.Count = n
	}
	return t, nil
}

// UnmarshalYAML accepts a number or one of ParseThreshold's strings.
func (t *Threshold) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	v, err := ParseThreshold(s)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// MarshalYAML writes the String form.
func (t Threshold) MarshalYAML() (any, error) { return t.String(), nil }

// Duration is a time.Duration written as "15s", "24h" in YAML.
type Duration time.Duration

// MarshalYAML writes Go duration syntax.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// ParseSize reads a byte size in GOMEMLIMIT's syntax: an integer with an
// optional unit B, KiB, MiB, GiB or TiB, or "off" (0).
func ParseSize(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if strings.EqualFold(v, "off") || v == "0" {
		return 0, nil
	}
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a size such as 400MiB or 2GiB (units B, KiB, MiB, GiB, TiB), or off")
	}
	if n*mult < 64<<20 {
		return 0, fmt.Errorf("want at least 64MiB (or off): below that the garbage collector would run constantly")
	}
	return n * mult, nil
}
