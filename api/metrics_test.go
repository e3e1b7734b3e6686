package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/backlinkoutreach/outreach/api"
	"github.com/backlinkoutreach/outreach/internal/config"
	"github.com/backlinkoutreach/outreach/internal/metrics"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
)

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url) //nolint:noctx // test
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// /metrics is public, documented, and shows every engine metric once
// something has been recorded into it, the HTTP histogram fed by the
// request observer, the Temporal SDK handler's series and the Go runtime.
func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	cfg, err := config.LoadFrom(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Deps{DB: storetest.New(t, store.SQLite), Config: cfg, ObserveHTTP: metrics.ObserveHTTP})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()

	metrics.SendsTotal.WithLabelValues("metrics_test").Inc()
	metrics.PolicyBlocksTotal.WithLabelValues("metrics_test").Inc()
	metrics.UnknownSendsTotal.Add(0)
	metrics.RepliesTotal.WithLabelValues("metrics_test").Inc()
	metrics.WorkflowStartsTotal.WithLabelValues("metrics_test").Inc()
	metrics.TemporalHandler().WithTags(map[string]string{"source": "api_metrics_test"}).Counter("temporal_api_metrics_test").Inc(3)

	if code, _, _ := get(t, hs.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz: %d", code)
	}
	code, body, hdr := get(t, hs.URL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("metrics answered %d without an API key: %s", code, body)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("content type %q", ct)
	}
	for _, want := range []string{
		`outreach_sends_total{outcome="metrics_test"} 1`,
		`outreach_policy_blocks_total{reason="metrics_test"} 1`,
		`outreach_unknown_sends_total `,
		`outreach_replies_total{class="metrics_test"} 1`,
		`outreach_workflow_starts_total{workflow="metrics_test"} 1`,
		`outreach_http_request_duration_seconds_count{method="GET",route="/healthz",status="2xx"}`,
		`temporal_api_metrics_test{source="api_metrics_test"} 3`,
		`go_goroutines `,
		`process_cpu_seconds_total `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// Unknown routes are observed under one label, not one per path, so a
	// scanner cannot blow up the series count.
	get(t, hs.URL+"/no/such/path/1")
	get(t, hs.URL+"/no/such/path/2")
	_, body, _ = get(t, hs.URL+"/metrics")
	if !strings.Contains(body, `route="unmatched",status="4xx"`) || strings.Contains(body, "/no/such/path") {
		t.Errorf("unmatched routes should share one label")
	}

	// Nor one per made-up method: the server accepts any token as one.
	for _, m := range []string{"X0SECRETVALUE", "PROPFIND", "M1"} {
		req, err := http.NewRequest(m, hs.URL+"/healthz", nil) //nolint:noctx // test
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	_, body, _ = get(t, hs.URL+"/metrics")
	if strings.Contains(body, "X0SECRETVALUE") || strings.Contains(body, "PROPFIND") || !strings.Contains(body, `method="OTHER"`) {
		t.Errorf("made-up methods must share the OTHER label")
	}

	var documented bool
	for _, r := range srv.Routes() {
		if r.FullPath() == "/metrics" {
			documented = r.Public() && r.Method == http.MethodGet
		}
	}
	if !documented {
		t.Error("/metrics is not in the route table as a public GET")
	}
	_, doc, _ := get(t, hs.URL+"/openapi.json")
	if !strings.Contains(doc, `"/metrics"`) || !strings.Contains(doc, "text/plain") {
		t.Error("/metrics missing from /openapi.json")
	}
}
