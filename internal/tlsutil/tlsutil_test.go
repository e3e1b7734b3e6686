package tlsutil_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"testing"

	"github.com/backlinkoutreach/outreach/internal/tlsutil"
)

// A client trusting only the returned pool completes a real handshake with
// the returned server configuration under both names the certificate
// carries, and a client trusting nothing refuses it.
func TestSelfSignedHandshake(t *testing.T) {
	t.Parallel()
	srvCfg, pool, err := tlsutil.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				_, _ = c.Write([]byte("ok"))
			}()
		}
	}()
	for _, tc := range []struct {
		name       string
		serverName string
		roots      bool
		wantErr    bool
	}{
		{"ip", "127.0.0.1", true, false},
		{"localhost", "localhost", true, false},
		{"other name", "mail.example.com", true, true},
		{"untrusted", "localhost", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{ServerName: tc.serverName, MinVersion: tls.VersionTLS12}
			if tc.roots {
				cfg.RootCAs = pool
			}
			c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
			if tc.wantErr {
				if err == nil {
					_ = c.Close()
					t.Fatal("handshake succeeded, want a verification error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Close() }()
			b, err := io.ReadAll(c)
			if err != nil || string(b) != "ok" {
				t.Fatalf("read %q, %v", b, err)
			}
		})
	}
}

// The PEM forms load back as the same certificate and key, the way a
// program reading certificate files does.
func TestPairPEM(t *testing.T) {
	t.Parallel()
	p, err := tlsutil.NewPair("client")
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := p.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(p.CertPEM(), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if c.Leaf == nil || !c.Leaf.Equal(p.Cert) || c.Leaf.Subject.CommonName != "client" {
		t.Fatalf("loaded certificate %+v, want the pair's", c.Leaf)
	}
	if _, err := p.Cert.Verify(x509.VerifyOptions{Roots: p.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("as a client certificate: %v", err)
	}
}
