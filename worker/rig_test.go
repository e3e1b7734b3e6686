package worker_test

// The integration rig is internal/enginetest's: a real Temporal dev server
// (one per test binary, started in TestMain), a real database, the
// capturing SMTP server, the HTTP API with the Temporal engine, and a
// worker (in-process, or the outreach binary as a subprocess). The
// worker's tests add a few helpers of their own on top of it.

import (
	"testing"

	"github.com/backlinkoutreach/outreach/internal/enginetest"
	"github.com/backlinkoutreach/outreach/internal/store"
)

func TestMain(m *testing.M) { enginetest.Main(m, enginetest.MainOptions{Temporal: true}) }

type rig struct{ *enginetest.Rig }

func newRig(t testing.TB, d store.Dialect, o enginetest.Options) *rig {
	t.Helper()
	return &rig{enginetest.New(t, d, o)}
}
