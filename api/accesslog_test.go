package api

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The access log names the route, not the path: a path may carry an
// address (DELETE /suppression/{address}), and logs are kept and shipped.
func TestAccessLogKeepsAddressesOut(t *testing.T) {
	t.Parallel()
	var buf lockedBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("log-owner@example.com")
		u.do(http.MethodPost, "/suppression", map[string]any{"value": "jane.doe@example.com"}).expect(http.StatusCreated)
		u.do(http.MethodDelete, "/suppression/jane.doe@example.com", nil).expect(http.StatusOK)
		ts.anonymous().do(http.MethodDelete, "/suppression/jane.doe@example.com", nil)
	}, func(d *Deps) { d.Log = log })
	out := buf.String()
	if !strings.Contains(out, "route=/api/v1/backlink-outreach/suppression/:entry") {
		t.Fatalf("no access log line for the delete:\n%s", out)
	}
	if strings.Contains(out, "jane.doe@example.com") {
		t.Errorf("an address reached the access log:\n%s", out)
	}
}
