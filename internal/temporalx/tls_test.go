package temporalx_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/backlinkoutreach/outreach/internal/devserver"
	"github.com/backlinkoutreach/outreach/internal/temporalx"
	"github.com/backlinkoutreach/outreach/internal/tlsutil"
	"github.com/backlinkoutreach/outreach/models"
)

// pemFiles writes p's certificate and key as PEM files and answers their
// paths.
func pemFiles(t *testing.T, p tlsutil.Pair, name string) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	keyPEM, err := p.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certFile, p.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func newPair(t *testing.T, name string) tlsutil.Pair {
	t.Helper()
	p, err := tlsutil.NewPair(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ClientOptions turns the settings into the SDK's: no TLS unless asked or
// implied, the CA pool, the server name, the client certificate and the
// API key; files that do not parse are errors, not "unavailable".
func TestClientOptionsTLS(t *testing.T) {
	t.Parallel()
	server, client1 := newPair(t, "server"), newPair(t, "client")
	caFile, _ := pemFiles(t, server, "ca")
	certFile, keyFile := pemFiles(t, client1, "client")
	_, otherKey := pemFiles(t, newPair(t, "other"), "other")
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}

	plain, err := temporalx.ClientOptions(temporalx.Options{Address: "127.0.0.1:7233"})
	if err != nil || plain.ConnectionOptions.TLS != nil || plain.Credentials != nil {
		t.Fatalf("default options: TLS %v, credentials %v, %v", plain.ConnectionOptions.TLS, plain.Credentials, err)
	}
	on, err := temporalx.ClientOptions(temporalx.Options{TLS: temporalx.TLS{Enabled: true}})
	if err != nil || on.ConnectionOptions.TLS == nil || on.ConnectionOptions.TLS.RootCAs != nil ||
		on.ConnectionOptions.TLS.MinVersion != tls.VersionTLS12 || len(on.ConnectionOptions.TLS.Certificates) != 0 {
		t.Fatalf("TLS on: %+v, %v", on.ConnectionOptions.TLS, err)
	}
	key, err := temporalx.ClientOptions(temporalx.Options{APIKey: "k"})
	if err != nil || key.ConnectionOptions.TLS == nil || key.Credentials == nil {
		t.Fatalf("API key: TLS %v, credentials %v, %v (a key implies TLS)", key.ConnectionOptions.TLS, key.Credentials, err)
	}
	full, err := temporalx.ClientOptions(temporalx.Options{TLS: temporalx.TLS{
		CAFile: caFile, CertFile: certFile, KeyFile: keyFile, ServerName: "frontend.example",
	}})
	if err != nil {
		t.Fatal(err)
	}
	tc := full.ConnectionOptions.TLS
	if tc == nil || tc.ServerName != "frontend.example" || len(tc.Certificates) != 1 || !tc.Certificates[0].Leaf.Equal(client1.Cert) {
		t.Fatalf("full TLS options: %+v", tc)
	}
	if _, err := server.Cert.Verify(x509.VerifyOptions{Roots: tc.RootCAs, DNSName: "localhost"}); err != nil {
		t.Fatalf("the CA file's certificate is not trusted: %v", err)
	}

	for _, bad := range []struct {
		name string
		tls  temporalx.TLS
		want string
	}{
		{"CA file without a certificate", temporalx.TLS{CAFile: garbage}, "no PEM certificate"},
		{"missing CA file", temporalx.TLS{CAFile: garbage + ".gone"}, "no such file"},
		{"key of another certificate", temporalx.TLS{CertFile: certFile, KeyFile: otherKey}, "private key does not match"},
		{"certificate without key", temporalx.TLS{CertFile: certFile}, "needs both"},
		{"not a certificate", temporalx.TLS{CertFile: garbage, KeyFile: keyFile}, "client certificate"},
	} {
		o := temporalx.Options{Address: "127.0.0.1:1", Namespace: "default", TLS: bad.tls}
		if _, err := temporalx.ClientOptions(o); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want an error containing %q", bad.name, err, bad.want)
		}
		_, err := temporalx.Lazy(o)
		if err == nil || errors.Is(err, models.ErrUnavailable) {
			t.Errorf("%s: Lazy answered %v, want a configuration error (not unavailable)", bad.name, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = temporalx.Dial(ctx, o)
		cancel()
		if err == nil || errors.Is(err, models.ErrUnavailable) {
			t.Errorf("%s: Dial answered %v, want a configuration error (not unavailable)", bad.name, err)
		}
	}
}

// tlsProxy terminates TLS in front of a plaintext gRPC server, the way a
// load balancer in front of a Temporal cluster does, and records the
// request headers the clients send through it (decoded from their
// HTTP/2 frames).
type tlsProxy struct {
	addr    string
	mu      sync.Mutex
	headers map[string][]string
}

func startTLSProxy(t *testing.T, target string, cfg *tls.Config) *tlsProxy {
	t.Helper()
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2"} // gRPC refuses a TLS server without ALPN h2
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &tlsProxy{addr: ln.Addr().String(), headers: map[string][]string{}}
	var conns sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				p.serve(c, target)
			}()
		}
	}()
	return p
}

func (p *tlsProxy) serve(c net.Conn, target string) {
	defer func() { _ = c.Close() }()
	if err := c.(*tls.Conn).HandshakeContext(context.Background()); err != nil {
		return // a client the proxy refuses (no certificate, ...)
	}
	var d net.Dialer
	up, err := d.DialContext(context.Background(), "tcp", target)
	if err != nil {
		return
	}
	defer func() { _ = up.Close() }()
	pr, pw := io.Pipe()
	recorded := make(chan struct{})
	go func() { defer close(recorded); p.record(pr) }()
	go func() {
		_, _ = io.Copy(up, io.TeeReader(c, pw))
		_ = pw.Close()
		_ = up.(*net.TCPConn).CloseWrite()
	}()
	_, _ = io.Copy(c, up)
	_ = c.Close()
	_ = pw.Close()
	<-recorded
}

// record decodes the client's HTTP/2 stream and keeps every header field.
func (p *tlsProxy) record(r io.Reader) {
	br := bufio.NewReader(r)
	defer func() { _, _ = io.Copy(io.Discard, br) }()
	if _, err := io.ReadFull(br, make([]byte, len(http2.ClientPreface))); err != nil {
		return
	}
	fr := http2.NewFramer(nil, br)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		if mh, ok := f.(*http2.MetaHeadersFrame); ok {
			p.mu.Lock()
			for _, hf := range mh.Fields {
				p.headers[hf.Name] = append(p.headers[hf.Name], hf.Value)
			}
			p.mu.Unlock()
		}
	}
}

func (p *tlsProxy) header(name string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.headers[name])
}

// The client reaches a real Temporal server over TLS: the server's
// certificate checked against TEMPORAL_TLS_CA_FILE under
// TEMPORAL_TLS_SERVER_NAME, a client certificate where the server demands
// one, and the API key on every call; a server it cannot trust, a wrong
// name or a missing client certificate fail the dial.
func TestDialOverTLS(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := startServer(ctx, t, devserver.Options{})

	server, clientCert := newPair(t, "temporal frontend"), newPair(t, "outreach worker")
	caFile, _ := pemFiles(t, server, "ca")
	certFile, keyFile := pemFiles(t, clientCert, "client")
	tlsOnly := startTLSProxy(t, srv.Address, &tls.Config{
		Certificates: []tls.Certificate{server.TLSCertificate()}, MinVersion: tls.VersionTLS12,
	})
	mutual := startTLSProxy(t, srv.Address, &tls.Config{
		Certificates: []tls.Certificate{server.TLSCertificate()}, MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCert.Pool(),
	})

	works := func(t *testing.T, o temporalx.Options) {
		t.Helper()
		o.Namespace = "default"
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		c, err := temporalx.Dial(dctx, o)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		if err := temporalx.Check(c)(dctx); err != nil {
			t.Fatalf("health: %v", err)
		}
		ns, err := c.WorkflowService().DescribeNamespace(dctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
		if err != nil || ns.GetNamespaceInfo().GetName() != "default" {
			t.Fatalf("describe namespace: %v, %v", ns, err)
		}
	}
	fails := func(t *testing.T, o temporalx.Options, why string) {
		t.Helper()
		o.Namespace = "default"
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		c, err := temporalx.Dial(dctx, o)
		if err == nil {
			c.Close()
			t.Fatalf("dial succeeded; want it refused: %s", why)
		}
	}

	t.Run("server certificate and API key", func(t *testing.T) {
		works(t, temporalx.Options{
			Address: tlsOnly.addr, APIKey: "tmprl-test-key",
			TLS: temporalx.TLS{CAFile: caFile, ServerName: "localhost"},
		})
		if got := tlsOnly.header("authorization"); !slices.Contains(got, "Bearer tmprl-test-key") {
			t.Fatalf("authorization headers seen by the server side: %q, want the API key", got)
		}
	})
	t.Run("address host as server name", func(t *testing.T) {
		works(t, temporalx.Options{Address: tlsOnly.addr, TLS: temporalx.TLS{CAFile: caFile}})
	})
	t.Run("untrusted server", func(t *testing.T) {
		fails(t, temporalx.Options{Address: tlsOnly.addr, TLS: temporalx.TLS{Enabled: true}},
			"the system roots do not trust a self-signed certificate")
	})
	t.Run("wrong server name", func(t *testing.T) {
		fails(t, temporalx.Options{Address: tlsOnly.addr, TLS: temporalx.TLS{CAFile: caFile, ServerName: "temporal.example"}},
			"the certificate is for localhost and 127.0.0.1")
	})
	t.Run("plaintext to a TLS port", func(t *testing.T) {
		fails(t, temporalx.Options{Address: tlsOnly.addr}, "no TLS asked for")
	})
	t.Run("mutual TLS", func(t *testing.T) {
		works(t, temporalx.Options{
			Address: mutual.addr,
			TLS:     temporalx.TLS{CAFile: caFile, CertFile: certFile, KeyFile: keyFile},
		})
	})
	t.Run("mutual TLS without a client certificate", func(t *testing.T) {
		fails(t, temporalx.Options{Address: mutual.addr, TLS: temporalx.TLS{CAFile: caFile}},
			"the server demands a client certificate")
	})
}
