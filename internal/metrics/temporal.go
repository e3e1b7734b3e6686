package metrics

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// TemporalBuckets are the histogram buckets (seconds) of the SDK's timers:
// they span a fast gRPC call to a long activity.
var TemporalBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

var (
	temporalOnce    sync.Once
	temporalHandler *TemporalMetrics
)

// TemporalHandler is the process-wide Temporal SDK metrics handler, exported
// on Registry (and so on /metrics). Pass it as client.Options.MetricsHandler.
func TemporalHandler() client.MetricsHandler {
	temporalOnce.Do(func() {
		temporalHandler = NewTemporalMetrics()
		Registry.MustRegister(temporalHandler)
	})
	return temporalHandler
}

// TemporalMetrics implements client.MetricsHandler on client_golang. The SDK
// emits one metric name with different tag sets (a task queue here, none
// there), which a prometheus *Vec with fixed label names cannot hold, so
// each (name, tags) series is its own collector, gathered by this unchecked
// collector. Prometheus treats a missing label as an empty one, so the
// varying label sets of one family query as expected.
type TemporalMetrics struct {
	set  *seriesSet
	tags map[string]string
	key  string // tags in canonical form, part of every series key
}

type seriesSet struct {
	mu     sync.RWMutex
	series map[string]prometheus.Collector
	kinds  map[string]string // metric name -> counter|gauge|histogram
}

// NewTemporalMetrics returns a handler whose series are collected by the
// returned value itself; register it on a prometheus registry.
func NewTemporalMetrics() *TemporalMetrics {
	return &TemporalMetrics{set: &seriesSet{series: map[string]prometheus.Collector{}, kinds: map[string]string{}}}
}

var _ client.MetricsHandler = (*TemporalMetrics)(nil)

// Describe sends nothing: the series are created as the SDK names them,
// which makes this an unchecked collector.
func (*TemporalMetrics) Describe(chan<- *prometheus.Desc) {}

// Collect sends every series created so far.
func (h *TemporalMetrics) Collect(ch chan<- prometheus.Metric) {
	h.set.mu.RLock()
	defer h.set.mu.RUnlock()
	for _, c := range h.set.series {
		c.Collect(ch)
	}
}

// WithTags returns a handler whose series carry tags on top of h's (new
// values win).
func (h *TemporalMetrics) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[labelName(k)] = v
	}
	return &TemporalMetrics{set: h.set, tags: merged, key: canonical(merged)}
}

// Counter returns the counter series name{tags}.
func (h *TemporalMetrics) Counter(name string) client.MetricsCounter {
	c := h.get(name, "counter", func(n string, labels prometheus.Labels) prometheus.Collector {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: n, Help: help(n, "counter"), ConstLabels: labels})
	}).(prometheus.Counter) //nolint:forcetypeassert // the constructor above decides the type
	return counterFunc(func(d int64) {
		// A counter only goes up; the SDK never sends a negative delta, and
		// client_golang would panic on one.
		if d > 0 {
			c.Add(float64(d))
		}
	})
}

// Gauge returns the gauge series name{tags}.
func (h *TemporalMetrics) Gauge(name string) client.MetricsGauge {
	g := h.get(name, "gauge", func(n string, labels prometheus.Labels) prometheus.Collector {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: n, Help: help(n, "gauge"), ConstLabels: labels})
	}).(prometheus.Gauge) //nolint:forcetypeassert // the constructor above decides the type
	return gaugeFunc(g.Set)
}

// Timer returns the histogram series name{tags}, observed in seconds.
func (h *TemporalMetrics) Timer(name string) client.MetricsTimer {
	o := h.get(name, "histogram", func(n string, labels prometheus.Labels) prometheus.Collector {
		return prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: n, Help: help(n, "timer"), ConstLabels: labels, Buckets: TemporalBuckets,
		})
	}).(prometheus.Histogram) //nolint:forcetypeassert // the constructor above decides the type
	return timerFunc(func(d time.Duration) { o.Observe(d.Seconds()) })
}

func (h *TemporalMetrics) get(name, kind string, mk func(string, prometheus.Labels) prometheus.Collector) prometheus.Collector {
	name = metricName(name)
	key := kind + "\x00" + name + "\x00" + h.key
	h.set.mu.RLock()
	c, ok := h.set.series[key]
	h.set.mu.RUnlock()
	if ok {
		return c
	}
	h.set.mu.Lock()
	defer h.set.mu.Unlock()
	if c, ok := h.set.series[key]; ok {
		return c
	}
	// One family has one type: should the SDK ever use a name both as a
	// counter and a gauge, the second kind gets its own family instead of
	// breaking every scrape.
	if k, seen := h.set.kinds[name]; seen && k != kind {
		name += "_" + kind
	} else {
		h.set.kinds[name] = kind
	}
	labels := make(prometheus.Labels, len(h.tags))
	for k, v := range h.tags {
		labels[k] = v
	}
	c = mk(name, labels)
	h.set.series[key] = c
	return c
}

func help(name, kind string) string {
	return "Temporal SDK " + kind + " " + name + "."
}

func canonical(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(tags[k])
		b.WriteByte('\x00')
	}
	return b.String()
}

// metricName and labelName keep SDK names valid Prometheus identifiers (the
// SDK's already are; this guards against a future dotted name).
func metricName(s string) string { return sanitize(s, true) }

// "le" and "quantile" are reserved by histograms and summaries.
func labelName(s string) string {
	s = sanitize(s, false)
	if s == "le" || s == "quantile" || strings.HasPrefix(s, "__") {
		s = "tag_" + s
	}
	return s
}

func sanitize(s string, colon bool) string {
	if s == "" {
		return "_"
	}
	b := []byte(s)
	for i, c := range b {
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (i > 0 && c >= '0' && c <= '9') || (colon && c == ':')
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
