package main

import (
	"bytes"
	"io"
	"os"
)

// colorOutput returns w colouring plan-shaped text (+ created green, -
// deleted red, ~ changed yellow, group headers and the summary bold) when w
// is a terminal and neither NO_COLOR (https://no-color.org) nor TERM=dumb
// says otherwise; else w itself. Machine output (--json) must not use it.
func colorOutput(w io.Writer) io.Writer {
	if !isTerminal(w) || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return w
	}
	return &colorWriter{w: w}
}

const (
	ansiReset  = "\033[0m"
	ansiBold   = "\033[1m"
	ansiRed    = "\033[31m"
	ansiGreen  = "\033[32m"
	ansiYellow = "\033[33m"
)

// colorWriter colours whole lines by how they start. It buffers nothing: a
// line's tail that arrives in a later write (a prompt, a bufio boundary) is
// written as it comes, uncoloured.
type colorWriter struct {
	w       io.Writer
	midLine bool // the last write ended inside a line
}

func (c *colorWriter) Write(p []byte) (int, error) {
	var out bytes.Buffer
	rest := p
	for len(rest) > 0 {
		line := rest
		nl := bytes.IndexByte(rest, '\n')
		if nl >= 0 {
			line, rest = rest[:nl+1], rest[nl+1:]
		} else {
			rest = nil
		}
		color := ""
		if !c.midLine {
			color = lineColor(line)
		}
		if color == "" {
			out.Write(line)
		} else {
			body := bytes.TrimSuffix(line, []byte("\n"))
			out.WriteString(color)
			out.Write(body)
			out.WriteString(ansiReset)
			if len(body) < len(line) {
				out.WriteByte('\n')
			}
		}
		c.midLine = nl < 0
	}
	if _, err := c.w.Write(out.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

func lineColor(line []byte) string {
	t := bytes.TrimLeft(line, " ")
	switch {
	case bytes.HasPrefix(t, []byte("+ ")):
		return ansiGreen
	case bytes.HasPrefix(t, []byte("- ")), bytes.HasPrefix(t, []byte("Error:")):
		return ansiRed
	case bytes.HasPrefix(t, []byte("~ ")), bytes.HasPrefix(t, []byte("Warning")):
		return ansiYellow
	case bytes.HasPrefix(t, []byte("# ")), bytes.HasPrefix(t, []byte("Plan:")), bytes.HasPrefix(t, []byte("Apply complete")):
		return ansiBold
	}
	return ""
}
