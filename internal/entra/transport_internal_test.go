package entra

import (
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
)

// Which network errors are permanent: retrying cannot fix an unknown host;
// it can fix a DNS timeout, and a refused connection a few times.
func TestPermanentClassification(t *testing.T) {
	wrap := func(err error) error {
		return &url.Error{Op: "Post", URL: "https://login.example/t/oauth2/v2.0/token", Err: &net.OpError{Op: "dial", Net: "tcp", Err: err}}
	}
	tr := &classifyingTransport{log: slog.New(slog.DiscardHandler)}
	if perm := tr.permanent("login.example", wrap(&net.DNSError{Err: "no such host", Name: "login.example", IsNotFound: true})); perm == nil {
		t.Error("unknown host not permanent")
	} else if got := perm.Error(); !strings.Contains(got, "does not resolve") {
		t.Errorf("unknown host: %q", got)
	}
	if perm := tr.permanent("login.example", wrap(&net.DNSError{Err: "i/o timeout", Name: "login.example", IsTimeout: true})); perm != nil {
		t.Errorf("DNS timeout classified permanent: %v", perm)
	}
	refused := wrap(os.NewSyscallError("connect", syscall.ECONNREFUSED))
	for i := 1; i < refusedLimit; i++ {
		if perm := tr.permanent("login.example", refused); perm != nil {
			t.Fatalf("refusal %d classified permanent", i)
		}
	}
	if perm := tr.permanent("login.example", refused); perm == nil {
		t.Errorf("refusal %d not permanent", refusedLimit)
	}
}
