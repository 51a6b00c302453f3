package expr

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTmpSlowCorpus(t *testing.T) {
	dir := os.Getenv("CORPUS")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	type r struct {
		d   time.Duration
		src string
	}
	var rs []r
	for _, f := range files {
		b, _ := os.ReadFile(f)
		lines := strings.SplitN(string(b), "\n", 2)
		if len(lines) < 2 {
			continue
		}
		body := strings.TrimSpace(lines[1])
		body = strings.TrimSuffix(strings.TrimPrefix(body, "string("), ")")
		src, err := strconv.Unquote(body)
		if err != nil {
			continue
		}
		start := time.Now()
		e, err := Parse(src)
		if err == nil {
			e.Eval(Context{Attrs: fuzzAttrs("Zoë 😀 x"), Now: time.Unix(1700000000, 0)})
		}
		rs = append(rs, r{time.Since(start), src})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].d > rs[j].d })
	for i := 0; i < 5 && i < len(rs); i++ {
		t.Logf("%v %q", rs[i].d, rs[i].src[:min(300, len(rs[i].src))])
	}
}
