package models

import "errors"

// Domain errors. The API layer alone turns them into HTTP statuses and codes.
var (
	// ErrCampaignNotFound covers both "no such campaign" and "someone
	// else's campaign": callers must not learn which.
	ErrCampaignNotFound = errors.New("campaign not found")
	ErrLeadNotFound     = errors.New("lead not found")
	ErrTemplateNotFound = errors.New("template not found")
	ErrReplyNotFound    = errors.New("reply not found")
	ErrUserNotFound     = errors.New("user not found")
	ErrKeyNotFound      = errors.New("api key not found")
	// ErrDuplicateLead: the campaign already has a lead with this normalised URL.
	ErrDuplicateLead = errors.New("a lead with this website is already in the campaign")
	// ErrUserExists: a user with this email exists.
	ErrUserExists = errors.New("a user with this email already exists")
	// ErrConflict: the request contradicts the current state (e.g. launching
	// an archived campaign).
	ErrConflict = errors.New("conflict with the current state")
	// ErrUnavailable: a dependency (Temporal) cannot be reached right now.
	ErrUnavailable = errors.New("service temporarily unavailable")
)

// StateError refuses an action that the campaign's state does not allow.
type StateError struct {
	Action string
	State  CampaignState
}

func (e *StateError) Error() string {
	return "cannot " + e.Action + " a campaign that is " + string(e.State)
}

// Unwrap lets errors.Is(err, ErrConflict) match.
func (e *StateError) Unwrap() error { return ErrConflict }
