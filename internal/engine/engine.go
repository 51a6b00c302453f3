package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/mapping"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/resolve"
	"github.com/writeback/writeback/internal/scope"
	"github.com/writeback/writeback/internal/state"
)

// Directory is the writable domain controller (implemented by *ad.Conn),
// asked in the engine's terms: groups by anchor or SID, who holds a DN,
// which names are taken; the LDAP filters are ad's.
type Directory interface {
	BaseDN(ctx context.Context) (string, error)

	// Groups: the owned ones, by anchor, by SID, one by anchor.
	AnchoredGroups(ctx context.Context, base string, q ad.GroupQuery, fn func(ad.Group) error) error
	GroupsWithAnchors(ctx context.Context, base string, anchors []string, q ad.GroupQuery, fn func(ad.Group) error) error
	GroupsWithSIDs(ctx context.Context, base string, sids []string, q ad.GroupQuery, fn func(ad.Group) error) error
	GroupByAnchor(ctx context.Context, base, anchor string, withMembers bool) (*ad.Group, error)
	// MarkedGroups: Connect Sync's copies (adminDescription Group_<id>).
	MarkedGroups(ctx context.Context, base string, anchors []string, fn func(ad.Marked) error) error
	ProtectedGroupContaining(ctx context.Context, base, dn string) (string, error)

	// Places and names a new group needs free.
	HolderOf(ctx context.Context, dn string) (anchor string, exists bool, err error)
	HoldersUnder(ctx context.Context, parent string) (map[string]string, error)
	TakenSAMAccountNames(ctx context.Context, base string, names []string) (map[string]bool, error)

	// Writes.
	CreateGroup(ctx context.Context, dn string, attrs map[string][]string) error
	Modify(ctx context.Context, dn string, replace map[string][]string) error
	AddMembers(ctx context.Context, dn string, members []string) error
	RemoveMembers(ctx context.Context, dn string, members []string) error
	Move(ctx context.Context, dn, newRDN, newParent string) (string, error)
	Delete(ctx context.Context, dn string) error

	// Walks of the group graph: the owned groups nested (at any depth) in a
	// protected group; whether a group's scope may change to another.
	NestedInProtected(ctx context.Context, domain, base string) (map[string]string, error)
	CheckConversion(ctx context.Context, domain, dn string, to int32) error

	// What member resolution reads on the DC (package resolve).
	resolve.DC

	// Searches is how many LDAP searches the connection has made: the
	// round's statistics count every search, whichever question asked it.
	Searches() int64
}

// Catalog is the Global Catalog used to resolve members across the forest
// (implemented by *ad.Conn from ad.DialGC).
type Catalog = resolve.Catalog

// Source is the cloud (implemented by *entra.Client).
type Source interface {
	GroupsDelta(ctx context.Context, deltaLink string, fn func(entra.Group) error) (next string, full bool, err error)
	UsersDelta(ctx context.Context, deltaLink string, fn func(entra.User) error) (next string, full bool, err error)
}

var (
	_ Directory = (*ad.Conn)(nil)
	_ Catalog   = (*ad.Conn)(nil)
	_ Source    = (*entra.Client)(nil)
)

// Engine runs rounds. It is not safe for concurrent rounds (one process owns
// the state file anyway).
type Engine struct {
	cfg      *config.Config
	db       *state.DB
	dir      *counting
	src      Source
	mapper   *mapping.Mapper
	scope    *scope.Scope
	resolver *resolve.Resolver
	// missesSaved is the resolver's Misses version last saved in the state.
	missesSaved uint64
	log         *slog.Logger
	now         func() time.Time
	base        string // where owned groups are searched (sync.searchBase or the domain)
	targetOU    string // where groups are created unless a mapping says otherwise
	// fp is the configuration's fingerprint; a full round applied with it is
	// recorded in the state (see configChange).
	fp     fingerprint
	domain string // the domain naming context
	policy plan.Policy
	// gcSearches counts the Global Catalog's searches when it has its own
	// connection (ad.Conn.Searches); nil otherwise.
	gcSearches func() int64
	// progress, when set, counts each round's work (SetProgress).
	progress *Progress
	// dc is the domain controller this round is pinned to (dcpin.go).
	dc ad.DCIdentity
}

// Options are the engine's dependencies.
type Options struct {
	Config *config.Config
	State  *state.DB
	DC     Directory
	GC     Catalog // nil: the DC is used (single-domain forests)
	Source Source
	Logger *slog.Logger
	Now    func() time.Time // nil: time.Now
	// Resolver, when set, is reused (with its cache of resolved members)
	// across engines: the daemon makes one engine per round.
	Resolver *resolve.Resolver
}

// New validates the configuration parts the engine compiles (scope filters,
// mappings) and returns an engine. Errors name the setting.
func New(ctx context.Context, o Options) (*Engine, error) {
	if o.Config == nil || o.State == nil || o.DC == nil || o.Source == nil {
		return nil, fmt.Errorf("engine: config, state, DC and source are required")
	}
	e := &Engine{cfg: o.Config, db: o.State, dir: &counting{Directory: o.DC, searches0: o.DC.Searches()}, src: o.Source, log: o.Logger, now: o.Now}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.now == nil {
		e.now = time.Now
	}
	base := o.Config.AD.BaseDN
	if base == "" {
		b, err := o.DC.BaseDN(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the domain's naming context: %w", err)
		}
		base = b
	}
	e.domain, e.base = base, base
	if sb := o.Config.Sync.SearchBase; sb != "" {
		e.base = sb
	}
	parent := o.Config.AD.TargetOU
	if parent == "" {
		parent = "CN=Users," + base // Cloud Sync's default container
	}
	e.targetOU = parent
	m, err := mapping.Compile(o.Config.Mappings, parent)
	if err != nil {
		return nil, err
	}
	e.mapper = m
	sc, err := scope.New(o.Config.Scope)
	if err != nil {
		return nil, err
	}
	e.scope = sc
	gc := o.GC
	if sc, ok := gc.(interface{ Searches() int64 }); ok && any(gc) != any(o.DC) {
		e.gcSearches = sc.Searches
	}
	if gc == nil {
		if c, ok := o.DC.(Catalog); ok {
			gc = c
		} else {
			return nil, fmt.Errorf("engine: a Global Catalog connection is required")
		}
	}
	cat := &resolve.ADDirectory{GC: gc, DC: e.dir, Base: e.domain}
	if o.Resolver != nil {
		o.Resolver.SetDirectory(cat)
		e.resolver = o.Resolver
	} else {
		e.resolver = resolve.New(cat)
	}
	e.resolver.SetPolicy(resolve.Policy{Allow: o.Config.Members.Allow, InetOrgPerson: o.Config.Members.InetOrgPerson, Devices: o.Config.Members.DevicesEnabled()})
	misses, err := e.db.ConsistencyMisses()
	if err != nil {
		return nil, err
	}
	e.resolver.SetMisses(misses)
	e.missesSaved = e.resolver.MissesVersion()
	s := o.Config.Safety
	e.policy = plan.Policy{OnDelete: s.OnDelete, OnOutOfScope: s.OnOutOfScope, MoveTo: s.MoveTo,
		DeleteThreshold: s.DeleteThreshold.Count, DeletePercent: s.DeleteThreshold.Percent}
	e.fp = e.computeFingerprint()
	return e, nil
}

// Validate compiles what New compiles from the configuration (mappings and
// scope) without connecting anywhere, so a reloaded configuration can be
// refused before it replaces a running one.
func Validate(cfg *config.Config) error {
	parent := cfg.AD.TargetOU
	if parent == "" {
		parent = "CN=Users,DC=example,DC=com" // the domain is not known here; only the mappings are checked
	}
	if _, err := mapping.Compile(cfg.Mappings, parent); err != nil {
		return err
	}
	_, err := scope.New(cfg.Scope)
	return err
}

// LDAPStats are the engine's directory operations since New: every search
// the DC's connection and the Global Catalog's made (a paged search counts
// once; the further reads of a group's members past a range count too),
// and writes (one per LDAP write request).
type LDAPStats struct {
	Searches int64 `json:"searches"`
	Writes   int64 `json:"writes"`
}

// LDAPStats returns the counters.
func (e *Engine) LDAPStats() LDAPStats {
	st := LDAPStats{Searches: e.dir.searches(), Writes: e.dir.writes.Load()}
	if e.gcSearches != nil {
		st.Searches += e.gcSearches()
	}
	return st
}

// counting wraps the DC to count its writes (a no-change round must write
// nothing); its searches are the connection's own count.
type counting struct {
	Directory
	searches0 int64 // the DC's searches before New
	writes    atomic.Int64
}

// searches is how many searches the DC has made since New.
func (c *counting) searches() int64 { return c.Directory.Searches() - c.searches0 }

func (c *counting) CreateGroup(ctx context.Context, dn string, attrs map[string][]string) error {
	c.writes.Add(1)
	return c.Directory.CreateGroup(ctx, dn, attrs)
}
func (c *counting) Modify(ctx context.Context, dn string, r map[string][]string) error {
	c.writes.Add(1)
	return c.Directory.Modify(ctx, dn, r)
}
func (c *counting) AddMembers(ctx context.Context, dn string, m []string) error {
	c.writes.Add(1)
	return c.Directory.AddMembers(ctx, dn, m)
}
func (c *counting) RemoveMembers(ctx context.Context, dn string, m []string) error {
	c.writes.Add(1)
	return c.Directory.RemoveMembers(ctx, dn, m)
}
func (c *counting) Move(ctx context.Context, dn, rdn, parent string) (string, error) {
	c.writes.Add(1)
	return c.Directory.Move(ctx, dn, rdn, parent)
}
func (c *counting) Delete(ctx context.Context, dn string) error {
	c.writes.Add(1)
	return c.Directory.Delete(ctx, dn)
}
