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
	} {
		if got := (Options{Addr: c.addr}).emulatorAddr(); got != c.want {
			t.Errorf("instance on %s: emulator on %s, want %s", c.addr, got, c.want)
		}
	}
}
