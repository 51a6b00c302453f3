package emulator

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// CA is the emulator's certificate authority and the loopback server
// certificate it signed.
type CA struct {
	CertPEM []byte // the CA certificate clients trust
	KeyPEM  []byte
	Server  tls.Certificate
}

// LoadOrCreateCA reads dir/ca.pem and dir/ca-key.pem, creating them when
// absent, so that a restarted emulator keeps the CA its clients already trust.
// dir "" keeps everything in memory. The server certificate covers
// 127.0.0.1, ::1, localhost and hosts (the address the emulator listens on,
// e.g. 127.0.0.14, so the URLs it prints pass TLS verification).
func LoadOrCreateCA(dir string, hosts ...string) (*CA, error) {
	var ca CA
	if dir != "" {
		c, err1 := os.ReadFile(filepath.Join(dir, "ca.pem"))
		k, err2 := os.ReadFile(filepath.Join(dir, "ca-key.pem"))
		if err1 == nil && err2 == nil {
			ca.CertPEM, ca.KeyPEM = c, k
		} else if !errors.Is(err1, os.ErrNotExist) && err1 != nil {
			return nil, fmt.Errorf("read CA: %w", err1)
		}
	}
	if ca.CertPEM == nil {
		if err := ca.generate(); err != nil {
			return nil, err
		}
		if dir != "" {
			if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca.CertPEM, 0o644); err != nil {
				return nil, fmt.Errorf("write CA: %w", err)
			}
			if err := os.WriteFile(filepath.Join(dir, "ca-key.pem"), ca.KeyPEM, 0o600); err != nil {
				return nil, fmt.Errorf("write CA key: %w", err)
			}
		}
	}
	if err := ca.issueServer(hosts); err != nil {
		return nil, err
	}
	return &ca, nil
}

func (ca *CA) generate() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "writeback Graph emulator test CA", Organization: []string{"writeback (test instrument)"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("create CA certificate: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	ca.CertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	ca.KeyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	return nil
}

// issueServer signs a fresh certificate for 127.0.0.1, ::1, localhost and hosts.
func (ca *CA) issueServer(hosts []string) error {
	cb, _ := pem.Decode(ca.CertPEM)
	kb, _ := pem.Decode(ca.KeyPEM)
	if cb == nil || kb == nil {
		return errors.New("emulator CA: bad PEM in ca.pem or ca-key.pem (delete both to regenerate)")
	}
	caCert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return fmt.Errorf("emulator CA: %w", err)
	}
	caKey, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return fmt.Errorf("emulator CA key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if h != "" && !slices.Contains(tmpl.DNSNames, h) {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("sign server certificate: %w", err)
	}
	ca.Server = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return nil
}

// TLSConfig is the server side TLS configuration.
func (ca *CA) TLSConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{ca.Server}, MinVersion: tls.VersionTLS12}
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}
