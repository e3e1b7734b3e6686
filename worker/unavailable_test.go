package worker_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/backlinkoutreach/outreach/api"
	"github.com/backlinkoutreach/outreach/internal/config"
	"github.com/backlinkoutreach/outreach/internal/enginetest"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/internal/temporalx"
	"github.com/backlinkoutreach/outreach/models"
)

// With Temporal unreachable the API still starts; /readyz says so, and the
// routes that need Temporal answer 503 ServiceUnavailableError, never 500,
// leaving no half-done change behind.
func TestTemporalUnreachable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t, store.SQLite)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	tc, err := temporalx.Lazy(temporalx.Options{Address: dead, Namespace: "default", Logger: enginetest.QuietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	engine := api.NewTemporalEngine(tc, db, "q", enginetest.QuietLog())
	engine.CallTimeout = 2 * time.Second
	cfg, err := config.LoadFrom(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	h := api.New(api.Deps{
		DB: db, Config: cfg, Log: enginetest.QuietLog(), Engine: engine,
		Ready: []api.Check{{Name: "temporal", Run: temporalx.Check(tc)}},
	}).Handler()
	u, err := store.CreateUser(ctx, db, "owner@example.com")
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := store.CreateKey(ctx, db, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path string, body any) (int, string) {
		var rd *strings.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = strings.NewReader(string(b))
		} else {
			rd = strings.NewReader("")
		}
		req := httptest.NewRequestWithContext(ctx, method, path, rd)
		req.Header.Set("Authorization", "Bearer "+key)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code, w.Body.String()
	}
	code, body := do(http.MethodGet, "/readyz", nil)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"temporal":"unavailable"`) || !strings.Contains(body, `"database":"ok"`) {
		t.Fatalf("readyz: %d %s", code, body)
	}
	base := api.BasePath
	code, body = do(http.MethodPost, base+"/campaigns", map[string]any{"name": "Nope"})
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "ServiceUnavailableError") {
		t.Fatalf("create: %d %s", code, body)
	}
	var n int64
	db.Model(&models.Campaign{}).Count(&n)
	if n != 0 {
		t.Fatalf("a failed create left %d campaign rows", n)
	}

	// A campaign and lead stored while Temporal was up.
	now := time.Now().UTC()
	camp := models.Campaign{
		ID: models.NewID(), UserID: u.ID, Name: "c", Keywords: []string{"SaaS"}, State: models.CampaignDraft,
		Settings: models.CampaignSettings{Sender: models.SenderInfo{Name: "Ann", Site: "ann.example"}}, CreatedAt: now, UpdatedAt: now,
	}
	lead := models.Lead{
		ID: models.NewID(), CampaignID: camp.ID, UserID: u.ID, WebsiteURL: "https://x.example/", NormalizedURL: "x.example",
		WebsiteTitle: "X", ContactEmail: "ed@x.example", ContactName: "Ed", Source: models.SourceManual, Status: models.StatusDiscovered,
		CreatedAt: now, UpdatedAt: now, StatusChangedAt: now,
	}
	if err := db.Create(&camp).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&lead).Error; err != nil {
		t.Fatal(err)
	}
	cp := base + "/campaigns/" + camp.ID
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, cp + "/launch", nil},
		{http.MethodPatch, cp + "/leads/" + lead.ID + "/status", map[string]any{"status": "contacted"}},
		{http.MethodPatch, cp + "/leads/bulk-status", map[string]any{"lead_ids": []string{lead.ID}, "status": "contacted"}},
	} {
		code, body := do(c.method, c.path, c.body)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "ServiceUnavailableError") {
			t.Errorf("%s %s: %d %s", c.method, c.path, code, body)
		}
	}
	// Adding a lead stores it (the campaign workflow finds it when it next
	// looks: at launch or its periodic re-check), so it is not an error.
	if code, body := do(http.MethodPost, cp+"/leads", map[string]any{"website_url": "https://y.example/"}); code != http.StatusCreated {
		t.Errorf("add lead: %d %s", code, body)
	}
	var got models.Campaign
	if err := db.Take(&got, "id = ?", camp.ID).Error; err != nil {
		t.Fatal(err)
	}
	if got.State != models.CampaignDraft {
		t.Errorf("after a failed launch the campaign is %s, want draft", got.State)
	}
	// Pausing needs no workflow to take effect: it is stored and holds.
	db.Model(&models.Campaign{}).Where("id = ?", camp.ID).Update("state", models.CampaignActive)
	code, body = do(http.MethodPost, cp+"/pause", nil)
	if code != http.StatusOK || !strings.Contains(body, `"state":"paused"`) {
		t.Errorf("pause: %d %s", code, body)
	}
	code, body = do(http.MethodPost, cp+"/resume", nil)
	if code != http.StatusServiceUnavailable {
		t.Errorf("resume: %d %s", code, body)
	}
	db.Take(&got, "id = ?", camp.ID)
	if got.State != models.CampaignPaused {
		t.Errorf("a failed resume left the campaign %s", got.State)
	}
	db.Model(&models.Campaign{}).Where("id = ?", camp.ID).Update("state", models.CampaignActive)
	code, body = do(http.MethodPost, base+"/outreach/send", map[string]any{"campaign_id": camp.ID, "lead_id": lead.ID})
	if code != http.StatusServiceUnavailable {
		t.Errorf("send now: %d %s", code, body)
	}
	// A delete goes on in the background (the worker's finisher): 202, and
	// the campaign is hidden, never restored.
	code, body = do(http.MethodDelete, cp, nil)
	if code != http.StatusAccepted || !strings.Contains(body, `"state":"deleting"`) {
		t.Errorf("delete: %d %s", code, body)
	}
	db.Take(&got, "id = ?", camp.ID)
	if got.State != models.CampaignDeleting {
		t.Errorf("after a delete Temporal could not finish the campaign is %s, want deleting", got.State)
	}
}
