package api

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/backlinkoutreach/outreach/internal/syncbuf"
)

// The access log names the route, not the path: a path may carry an
// address (DELETE /suppression/{address}), and logs are kept and shipped.
func TestAccessLogKeepsAddressesOut(t *testing.T) {
	t.Parallel()
	var buf syncbuf.Buffer
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
