package models

import (
	"errors"
	"testing"
)

func TestCheckTransitionEveryPair(t *testing.T) {
	t.Parallel()
	allowed := map[[2]LeadStatus]bool{
		{StatusDiscovered, StatusContacted}: true,
		{StatusContacted, StatusReplied}:    true,
		{StatusContacted, StatusBounced}:    true,
		{StatusReplied, StatusPlaced}:       true,
		{StatusReplied, StatusLost}:         true,
	}
	for _, from := range LeadStatuses {
		for _, to := range LeadStatuses {
			err := CheckTransition(from, to)
			switch {
			case from == to:
				if err != nil {
					t.Errorf("%s -> %s: same status must be a no-op success, got %v", from, to, err)
				}
			case allowed[[2]LeadStatus{from, to}]:
				if err != nil {
					t.Errorf("%s -> %s: want allowed, got %v", from, to, err)
				}
			default:
				var te *TransitionError
				if !errors.As(err, &te) {
					t.Errorf("%s -> %s: want TransitionError, got %v", from, to, err)
					continue
				}
				if te.From != from || te.To != to {
					t.Errorf("%s -> %s: error names %s -> %s", from, to, te.From, te.To)
				}
				want := "invalid_transition: " + string(from) + " -> " + string(to)
				if err.Error() != want {
					t.Errorf("message %q, want %q", err.Error(), want)
				}
			}
		}
	}
}

func TestCheckTransitionUnknown(t *testing.T) {
	t.Parallel()
	if err := CheckTransition("discovered", "published"); !errors.Is(err, ErrUnknownStatus) {
		t.Fatalf("unknown target: got %v", err)
	}
	if err := CheckTransition("nope", "contacted"); !errors.Is(err, ErrUnknownStatus) {
		t.Fatalf("unknown source: got %v", err)
	}
}

func TestTerminal(t *testing.T) {
	t.Parallel()
	want := map[LeadStatus]bool{StatusPlaced: true, StatusLost: true, StatusBounced: true}
	for _, s := range LeadStatuses {
		if s.Terminal() != want[s] {
			t.Errorf("%s.Terminal() = %v", s, s.Terminal())
		}
	}
}
