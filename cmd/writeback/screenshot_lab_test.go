package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromium finds Debian's headless-capable Chromium; the test skips
// without it (scripts/test.sh installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH (apt-get install chromium): the status page is not checked in a browser")
	return ""
}

// The status page of a daemon against the lab, rendered by a real headless
// browser: the screenshot is a page (not blank), and the DOM the browser
// built shows the quarantined group and the unresolved member.
func TestLabStatusPageInChromium(t *testing.T) {
	browser := chromium(t)
	d := startListenDaemon(t, onLab)
	eventually(t, "the quarantined group on the page", 60*time.Second, func() bool {
		_, body := d.get(t, "/", "text/html")
		return strings.Contains(body, listenBadName) && strings.Contains(body, listenCloudName)
	}, d.logs)
	dir := t.TempDir()
	shot := filepath.Join(dir, "status.png")
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
		"--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=1280,1600"}
	browse := func(extra ...string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, browser, append(append(args, extra...), d.base+"/")...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", browser, err, errb.String())
		}
		return out.Bytes()
	}
	dom := string(browse("--dump-dom"))
	for _, want := range []string{"writeback status", listenBadName, listenCloudName, "Quarantined groups (1)", "Needs an operator"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page Chromium rendered lacks %q", want)
		}
	}
	browse("--screenshot=" + shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 600 {
		t.Errorf("screenshot is %v", b)
	}
	// Text, tables and the coloured health banner: many colours. A blank
	// or error page has a handful.
	if n := colours(img); n < 20 {
		t.Errorf("screenshot has %d colours: the page did not render", n)
	}
	if out := os.Getenv("WRITEBACK_SCREENSHOT_DIR"); out != "" {
		b, _ := os.ReadFile(shot)
		_ = os.WriteFile(filepath.Join(out, "status-page.png"), b, 0o644)
	}
}

func colours(img image.Image) int {
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	return len(seen)
}
