package engine

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/adconfig"
	"github.com/writeback/writeback/internal/config"
	"github.com/writeback/writeback/internal/emulator"
	"github.com/writeback/writeback/internal/emulator/emulatortest"
	"github.com/writeback/writeback/internal/entra"
	"github.com/writeback/writeback/internal/entraconfig"
	"github.com/writeback/writeback/internal/lab/labtest"
	"github.com/writeback/writeback/internal/plan"
	"github.com/writeback/writeback/internal/state"
)

// tcpProxy forwards a loopback port to the lab DC; cut makes the DC
// unreachable (every connection reset, new ones refused) and restore brings
// it back on the same port, as a DC outage would.
type tcpProxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func startProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, d)
			p.mu.Unlock()
			go func() { io.Copy(d, c); d.Close() }()
			go func() { io.Copy(c, d); c.Close() }()
		}
	}()
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *tcpProxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

// cutAfter is the DC that goes away after n writes.
type cutAfter struct {
	*ad.Conn
	n      int64
	writes atomic.Int64
	proxy  *tcpProxy
}

func (c *cutAfter) CreateGroup(ctx context.Context, dn string, attrs map[string][]string) error {
	if c.writes.Add(1) == c.n {
		c.proxy.cut()
	}
	return c.Conn.CreateGroup(ctx, dn, attrs)
}

// D9 (reliability review F2) against the lab DC through a proxy cut
// mid-apply: the round fails with the connection named, no group is
// quarantined, and once the DC is back the next round converges at once,
// without duplicates.
func TestLabDCOutageMidApply(t *testing.T) {
	l := labtest.AD(t)
	users := l.CreateUsers(t, 1, "wbd")
	ctx := context.Background()
	tf := sampleTenant(users)
	tf.Groups = nil
	var ids []string
	for i := range 6 {
		id := uniqueID("d0d0d0d" + string(rune('0'+i)))
		ids = append(ids, id)
		tf.Groups = append(tf.Groups, emulator.Group{ID: id, DisplayName: "Outage " + id[len(id)-4:], SecurityEnabled: true, Members: []string{tf.Users[0].ID}})
	}
	env := emulatortest.Start(t, tf)
	cfg := loadConfig(t, l, env, func(c *config.Config) { c.Sync.Workers = 1 })

	u, err := url.Parse(l.Config.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, u.Host)
	viaProxy := l.Config
	viaProxy.URL = u.Scheme + "://" + proxy.addr
	viaProxy.ServerName = l.Env["LAB_TLS_SERVER_NAME"]
	viaProxy.Timeout = config.Duration(5 * time.Second)
	dcConn, err := ad.Dial(ctx, adconfig.Options(viaProxy))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dcConn.Close() })
	dc := &cutAfter{Conn: dcConn, n: 3, proxy: proxy}

	db, err := state.Open(cfg.State.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	src, err := entra.New(ctx, entraconfig.Options(*cfg.Entra))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := New(ctx, Options{Config: cfg, State: db, DC: dc, GC: l.GC(t), Source: src, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}

	res, err := eng.RunOnce(ctx, RoundOptions{})
	if err == nil || !strings.Contains(err.Error(), "connection to the domain controller failed") {
		t.Fatalf("round with the DC gone: err = %v", err)
	}
	t.Logf("outage round: %v", err)
	if res.Applied == nil || res.Applied.Failed != 0 {
		t.Errorf("applied = %+v", res.Applied)
	}
	for _, id := range ids {
		if st, _ := db.Status(id); !st.QuarantinedUntil.IsZero() || st.Failures != 0 {
			t.Errorf("group %s quarantined for the outage: %+v", id, st)
		}
	}

	proxy.restore()
	start := time.Now()
	res, err = eng.RunOnce(ctx, RoundOptions{})
	if err != nil || res.Applied == nil || res.Applied.Failed != 0 {
		t.Fatalf("round after the DC is back: %v %+v", err, res.Applied)
	}
	t.Logf("round after the DC is back: %d changes in %s", res.Applied.Applied, time.Since(start).Round(time.Millisecond))
	check := l.AdminConn(t)
	for _, id := range ids {
		gs := byAnchor(t, check, l.BaseDN, plan.Anchor(id))
		if len(gs) != 1 || len(gs[0].Members) != 1 {
			t.Errorf("group %s in AD: %+v", id, gs)
		}
	}
}
