package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"

	"github.com/backlinkoutreach/outreach/internal/devserver"
)

// scrape fetches a registry over HTTP, as Prometheus would.
func scrape(t *testing.T, g prometheus.Gatherer) string {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL) //nolint:noctx // test
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape answered %d: %s", resp.StatusCode, body)
	}
	return string(body)
}

func mustContain(t *testing.T, body string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(body, l) {
			t.Errorf("scrape lacks %q", l)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}

func TestTemporalMetricsRecordsEveryKind(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := NewTemporalMetrics()
	reg.MustRegister(h)

	root := h.WithTags(map[string]string{"namespace": "default", "task_queue": "q1"})
	root.Counter("temporal_test_requests").Inc(2)
	root.Counter("temporal_test_requests").Inc(1) // same series, obtained again
	root.Counter("temporal_test_requests").Inc(-5)
	// Same name, a different tag set: a separate series of the same family.
	root.WithTags(map[string]string{"operation": "Poll", "task_queue": "q2"}).Counter("temporal_test_requests").Inc(7)
	root.Gauge("temporal_test_slots").Update(4)
	root.Gauge("temporal_test_slots").Update(2.5)
	root.Timer("temporal_test_latency").Record(30 * time.Millisecond)
	root.Timer("temporal_test_latency").Record(3 * time.Second)
	// A dotted name and reserved label are made valid instead of breaking the scrape.
	h.WithTags(map[string]string{"le": "x", "bad-tag": "y"}).Counter("temporal.test.dotted").Inc(1)
	// The same name used as another kind gets its own family.
	root.Gauge("temporal_test_requests").Update(9)

	body := scrape(t, reg)
	mustContain(t, body,
		`temporal_test_requests{namespace="default",task_queue="q1"} 3`,
		`temporal_test_requests{namespace="default",operation="Poll",task_queue="q2"} 7`,
		`temporal_test_slots{namespace="default",task_queue="q1"} 2.5`,
		`temporal_test_latency_bucket{namespace="default",task_queue="q1",le="0.05"} 1`,
		`temporal_test_latency_bucket{namespace="default",task_queue="q1",le="5"} 2`,
		`temporal_test_latency_count{namespace="default",task_queue="q1"} 2`,
		`temporal_test_latency_sum{namespace="default",task_queue="q1"} 3.03`,
		`temporal_test_dotted{bad_tag="y",tag_le="x"} 1`,
		`temporal_test_requests_gauge{namespace="default",task_queue="q1"} 9`,
		"# TYPE temporal_test_requests counter",
		"# TYPE temporal_test_latency histogram",
	)
}

func TestTemporalMetricsConcurrentUse(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := NewTemporalMetrics()
	reg.MustRegister(h)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := h.WithTags(map[string]string{"worker": string(rune('a' + i%2))})
			for range 500 {
				w.Counter("temporal_test_concurrent").Inc(1)
				w.Timer("temporal_test_concurrent_latency").Record(time.Millisecond)
			}
		}()
	}
	// Scrapes while recording must not race or fail.
	for range 5 {
		_ = scrape(t, reg)
	}
	wg.Wait()
	mustContain(t, scrape(t, reg),
		`temporal_test_concurrent{worker="a"} 2000`,
		`temporal_test_concurrent{worker="b"} 2000`,
		`temporal_test_concurrent_latency_count{worker="a"} 2000`,
	)
}

// The SDK itself records through TemporalHandler into Registry: a real
// client talking to a real dev server shows up on the scrape.
func TestTemporalHandlerExportsSDKMetrics(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{Headless: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.Address, MetricsHandler: TemporalHandler()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	queue := "metrics-test-queue"
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "metrics-test", TaskQueue: queue}, "NoSuchWorkflow"); err != nil {
		t.Fatal(err)
	}
	body := scrape(t, Registry)
	mustContain(t, body,
		"# TYPE temporal_request counter",
		"# TYPE temporal_request_latency histogram",
	)
	if !regexp.MustCompile(`temporal_request\{[^}]*operation="StartWorkflowExecution"[^}]*\} [1-9]`).MatchString(body) {
		t.Errorf("no StartWorkflowExecution request counted:\n%s", body)
	}
	if !regexp.MustCompile(`temporal_request_latency_count\{[^}]*namespace="default"[^}]*\} [1-9]`).MatchString(body) {
		t.Errorf("no request latency observed for namespace default")
	}
}
