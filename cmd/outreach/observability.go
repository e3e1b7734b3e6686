package main

import (
	"github.com/backlinkoutreach/outreach/api"
	"github.com/backlinkoutreach/outreach/internal/metrics"
)

// observed plugs the process metrics into the API's dependencies, so every
// binary that serves the API (serve, dev) reports request durations on
// /metrics the same way.
func observed(d api.Deps) api.Deps {
	d.ObserveHTTP = metrics.ObserveHTTP
	return d
}
