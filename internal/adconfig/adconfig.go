// Package adconfig turns the configuration file's ad section into the
// ad package's Options: the one place where the two meet, so internal/ad does
// not depend on the file format.
package adconfig

import (
	"log/slog"
	"time"

	"github.com/writeback/writeback/internal/ad"
	"github.com/writeback/writeback/internal/config"
)

// Options is the ad.Options for the ad section a, logging to log (nil: the
// ad package's default).
func Options(a config.AD, log ...*slog.Logger) ad.Options {
	o := ad.Options{
		URL:         a.URL,
		Servers:     a.Servers,
		Domain:      a.Domain,
		Site:        a.Site,
		Forest:      a.Forest,
		DNSServer:   a.DNSServer,
		GCURL:       a.GCURL,
		CAFile:      a.CAFile,
		ServerName:  a.ServerName,
		Insecure:    a.Insecure,
		BindDN:      a.BindDN,
		Password:    a.Password,
		BaseDN:      a.BaseDN,
		PageSize:    a.PageSize,
		MemberBatch: a.MemberBatch,
		Timeout:     time.Duration(a.Timeout),
	}
	if len(log) > 0 {
		o.Logger = log[0]
	}
	return o
}
