package lab

import "testing"

// TestEmulatorAddr: the emulator's certificate names 127.0.0.1 only, so every
// instance's emulator listens there, on a port of its own.
func TestEmulatorAddr(t *testing.T) {
	for _, c := range []struct{ addr, want string }{
		{"127.0.0.1", "127.0.0.1:8443"},
		{"127.0.0.2", "127.0.0.1:8444"},
		{"127.0.0.4", "127.0.0.1:8446"},
		{"::1", "127.0.0.1:8443"},
		{"127.0.1.21", "127.0.0.1:8719"},
	} {
		if got := (Options{Addr: c.addr}).emulatorAddr(); got != c.want {
			t.Errorf("instance on %s: emulator on %s, want %s", c.addr, got, c.want)
		}
	}
}

// TestNoSchemaAddr: the schema-less lab of a lab on its own address gets an
// address of its own too.
func TestNoSchemaAddr(t *testing.T) {
	for _, c := range []struct{ main, want string }{
		{"", "127.0.0.2"},
		{"127.0.0.1", "127.0.0.2"},
		{"127.0.0.21", "127.0.1.21"},
		{"127.0.0.7", "127.0.1.7"},
	} {
		if got := noSchemaAddr(c.main); got != c.want {
			t.Errorf("beside a lab on %q: %s, want %s", c.main, got, c.want)
		}
	}
}
