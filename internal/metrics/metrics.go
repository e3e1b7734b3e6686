// Package metrics defines the engine's Prometheus metrics. Collectors are
// package-level, registered on Registry, and served at /metrics; packages
// record into them directly.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry holds every metric of the process (and the Go runtime's).
var Registry = prometheus.NewRegistry()

var (
	// SendsTotal counts send attempts by outcome: sent, failed (5xx),
	// retried (4xx or network), refused_config (our sender, login or
	// session refused: retried, worth an alert), unknown, deferred,
	// blocked, paused.
	SendsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "outreach_sends_total", Help: "Send attempts by outcome.",
	}, []string{"outcome"})
	// PolicyBlocksTotal counts policy decisions that stopped or deferred a
	// send, by reason (user_cap, domain_cap, campaign_cap, suppressed,
	// duplicate_subject, campaign_inactive, ...).
	PolicyBlocksTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "outreach_policy_blocks_total", Help: "Sends blocked or deferred by the policy, by reason.",
	}, []string{"reason"})
	// UnknownSendsTotal counts ledger rows found in sending after a crash.
	UnknownSendsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "outreach_unknown_sends_total", Help: "Sends whose outcome is unknown after a crash (never retried).",
	})
	// RepliesTotal counts stored inbound messages by classification.
	RepliesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "outreach_replies_total", Help: "Inbound replies stored, by classification.",
	}, []string{"class"})
	// WorkflowStartsTotal counts workflows started by the engine, by type.
	WorkflowStartsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "outreach_workflow_starts_total", Help: "Workflows started by the engine, by workflow type.",
	}, []string{"workflow"})
	// HTTPRequestDuration observes API requests by method, route and status.
	HTTPRequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "outreach_http_request_duration_seconds",
		Help:    "HTTP request duration by method, route template and status.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"method", "route", "status"})
)

func init() {
	Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		SendsTotal, PolicyBlocksTotal, UnknownSendsTotal, RepliesTotal, WorkflowStartsTotal, HTTPRequestDuration,
	)
}

// ObserveHTTP records one request; it fits api.Deps.ObserveHTTP.
func ObserveHTTP(method, route string, status int, d time.Duration) {
	HTTPRequestDuration.WithLabelValues(MethodLabel(method), route, statusClass(status)).Observe(d.Seconds())
}

// MethodLabel bounds the method label: the server accepts any token as a
// method, and each new one would be a series kept for the process's life.
func MethodLabel(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return m
	}
	return "OTHER"
}

func statusClass(s int) string {
	switch {
	case s >= 500:
		return "5xx"
	case s >= 400:
		return "4xx"
	case s >= 300:
		return "3xx"
	default:
		return "2xx"
	}
}
