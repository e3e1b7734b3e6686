package models

import (
	"errors"
	"fmt"
)

// LeadStatus is a lead's position in the lifecycle of SPEC §3.
type LeadStatus string

// The lead statuses. Placed, lost and bounced are terminal.
const (
	StatusDiscovered LeadStatus = "discovered"
	StatusContacted  LeadStatus = "contacted"
	StatusReplied    LeadStatus = "replied"
	StatusBounced    LeadStatus = "bounced"
	StatusPlaced     LeadStatus = "placed"
	StatusLost       LeadStatus = "lost"
)

// LeadStatuses lists every status in lifecycle order; reports iterate it so
// that every status appears, zeros included.
var LeadStatuses = []LeadStatus{
	StatusDiscovered, StatusContacted, StatusReplied, StatusBounced, StatusPlaced, StatusLost,
}

// transitions is the whole state machine: nothing outside it is allowed.
var transitions = map[LeadStatus][]LeadStatus{
	StatusDiscovered: {StatusContacted},
	StatusContacted:  {StatusReplied, StatusBounced},
	StatusReplied:    {StatusPlaced, StatusLost},
}

// Valid reports whether s is one of the known statuses.
func (s LeadStatus) Valid() bool {
	for _, k := range LeadStatuses {
		if s == k {
			return true
		}
	}
	return false
}

// Terminal reports whether no transition leaves s.
func (s LeadStatus) Terminal() bool {
	return s.Valid() && len(transitions[s]) == 0
}

// ParseLeadStatus converts user input into a status.
func ParseLeadStatus(v string) (LeadStatus, error) {
	s := LeadStatus(v)
	if !s.Valid() {
		return "", fmt.Errorf("%w: %q", ErrUnknownStatus, v)
	}
	return s, nil
}

// ErrUnknownStatus is returned for a status name outside the lifecycle.
var ErrUnknownStatus = errors.New("unknown lead status")

// TransitionError refuses a change that the lifecycle does not allow.
type TransitionError struct {
	From, To LeadStatus
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("invalid_transition: %s -> %s", e.From, e.To)
}

// CheckTransition answers nil when a lead in status from may move to to.
// Setting a lead to its current status is a no-op success.
func CheckTransition(from, to LeadStatus) error {
	if !from.Valid() {
		return fmt.Errorf("%w: %q", ErrUnknownStatus, from)
	}
	if !to.Valid() {
		return fmt.Errorf("%w: %q", ErrUnknownStatus, to)
	}
	if from == to {
		return nil
	}
	for _, next := range transitions[from] {
		if next == to {
			return nil
		}
	}
	return &TransitionError{From: from, To: to}
}

// StopsSequence reports whether a lead in status s must receive no more
// automatic email.
func (s LeadStatus) StopsSequence() bool {
	return s != StatusDiscovered && s != StatusContacted
}
