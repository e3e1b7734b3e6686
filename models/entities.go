package models

import "time"

// The gorm models mirror the versioned SQL migrations in
// internal/store/migrations; the migrations, not AutoMigrate, own the schema.
// Ids are UUIDv7 strings: time-ordered, so keyset pagination by id follows
// creation order.

// User is an account. It owns every other row, directly or through a campaign.
type User struct {
	ID        string    `gorm:"primaryKey" json:"id"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
}

// APIKey is stored as a SHA-256 hash; Prefix is the public part shown in
// listings and used to revoke a key.
type APIKey struct {
	ID         string `gorm:"primaryKey"`
	UserID     string `gorm:"index"`
	Prefix     string `gorm:"uniqueIndex"`
	Hash       string `gorm:"uniqueIndex"`
	CreatedAt  time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
}

// TableName keeps the table name readable.
func (APIKey) TableName() string { return "api_keys" }

// CampaignState is the outreach state of a campaign.
type CampaignState string

// Campaign states. A campaign is created as a draft, becomes active at launch,
// may be paused and resumed, and archived at any time.
const (
	CampaignDraft    CampaignState = "draft"
	CampaignActive   CampaignState = "active"
	CampaignPaused   CampaignState = "paused"
	CampaignArchived CampaignState = "archived"
	// CampaignDeleting is set while DELETE stops the campaign's workflows:
	// sends refuse it, lists hide it.
	CampaignDeleting CampaignState = "deleting"
)

// Campaign is the top-level unit of outreach.
type Campaign struct {
	ID          string           `gorm:"primaryKey"`
	UserID      string           `gorm:"index"`
	Name        string           ``
	Description string           ``
	Keywords    []string         `gorm:"serializer:json"`
	Settings    CampaignSettings `gorm:"serializer:json"`
	State       CampaignState    ``
	// StateBeforeArchive remembers what unarchive restores.
	StateBeforeArchive CampaignState `gorm:"column:state_before_archive"`
	CreatedAt          time.Time
	UpdatedAt          time.Time
	LaunchedAt         *time.Time
	ArchivedAt         *time.Time
}

// LeadSource says where a lead came from.
type LeadSource string

// Lead sources.
const (
	SourceManual    LeadSource = "manual"
	SourceBulk      LeadSource = "bulk"
	SourceCSV       LeadSource = "csv"
	SourceDiscovery LeadSource = "discovery"
	SourceAPI       LeadSource = "api"
)

// LeadSources lists the accepted sources.
var LeadSources = []LeadSource{SourceManual, SourceBulk, SourceCSV, SourceDiscovery, SourceAPI}

// Valid reports whether s is a known source.
func (s LeadSource) Valid() bool {
	for _, k := range LeadSources {
		if s == k {
			return true
		}
	}
	return false
}

// Lead is a website to pitch. The lead workflow owns Status; the row mirrors it.
type Lead struct {
	ID                  string `gorm:"primaryKey"`
	CampaignID          string
	UserID              string
	WebsiteURL          string
	NormalizedURL       string
	WebsiteTitle        string
	ContactEmail        string
	ContactName         string
	QualityScore        *float64
	RelevanceScore      *float64
	GuestPostLikelihood *float64
	Source              LeadSource
	Status              LeadStatus
	// Suppressed flags a lead whose address is on the suppression list.
	Suppressed bool
	// WorkflowStarted is set once the campaign workflow has started the
	// lead's workflow; DispatchedAt once it has told it to send step 0.
	WorkflowStarted bool
	DispatchedAt    *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
	StatusChangedAt time.Time
}

// LeadEvent is one line of a lead's timeline.
type LeadEvent struct {
	ID         string `gorm:"primaryKey"`
	LeadID     string
	CampaignID string
	At         time.Time
	// Kind: created, status, sent, send_unknown, send_failed, deferred,
	// blocked, reply, paused, resumed, note.
	Kind       string
	FromStatus LeadStatus
	ToStatus   LeadStatus
	Step       *int
	Detail     string
}

// Template is a reusable subject and body with placeholders.
type Template struct {
	ID        string `gorm:"primaryKey"`
	UserID    string
	Name      string
	Category  string
	Subject   string
	Body      string
	HTMLBody  string `gorm:"column:html_body"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AttemptState is a send ledger row's state.
type AttemptState string

// Send ledger states: pending -> sending -> sent | failed | unknown.
// A row found in sending after a crash becomes unknown and is never retried.
const (
	AttemptPending AttemptState = "pending"
	AttemptSending AttemptState = "sending"
	AttemptSent    AttemptState = "sent"
	AttemptFailed  AttemptState = "failed"
	AttemptUnknown AttemptState = "unknown"
)

// AttemptStates lists every ledger state.
var AttemptStates = []AttemptState{AttemptPending, AttemptSending, AttemptSent, AttemptFailed, AttemptUnknown}

// Attempt is one email sent (or being sent) to a lead: the send ledger,
// unique by (lead, step).
type Attempt struct {
	ID              string `gorm:"primaryKey"`
	UserID          string
	CampaignID      string
	LeadID          string
	Step            int
	State           AttemptState
	MessageID       string
	InReplyTo       string
	Recipient       string
	RecipientDomain string
	Subject         string
	Body            string
	LegalBasis      string
	Error           string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	SendingAt       *time.Time
	SentAt          *time.Time
}

// Legal bases recorded on attempts and audit entries.
const (
	LegalBasisConsent            = "consent"
	LegalBasisLegitimateInterest = "legitimate_interest"
)

// AuditEntry records one send decision, approved or not, and why.
type AuditEntry struct {
	ID         string `gorm:"primaryKey"`
	UserID     string
	CampaignID string
	LeadID     string
	Step       *int
	Recipient  string
	// Result: approved, blocked or deferred.
	Result     string
	Reason     string
	LegalBasis string
	CreatedAt  time.Time
}

// Suppression sources.
const (
	SuppressManual        = "manual"
	SuppressUnsubscribe   = "unsubscribe"
	SuppressNotInterested = "not_interested"
	SuppressHardBounce    = "hard_bounce"
)

// ReplySuppressionSource is the suppression a reply's tag writes (SPEC §8:
// not interested, unsubscribe, hard bounce), or "" for a tag that writes
// none. bounceKind is "hard" or "soft" for a bounce.
func ReplySuppressionSource(tag, bounceKind string) string {
	switch {
	case tag == ReplyUnsubscribe:
		return SuppressUnsubscribe
	case tag == ReplyNotInterested:
		return SuppressNotInterested
	case tag == ReplyBounce && bounceKind == "hard":
		return SuppressHardBounce
	}
	return ""
}

// Suppression is an address, or a whole domain written "@domain", that the
// user must never email again.
type Suppression struct {
	ID     string `gorm:"primaryKey"`
	UserID string
	Value  string
	Reason string
	Source string
	// ReplyID is the reply whose tag wrote the entry, nil otherwise (see
	// store.Reclassify).
	ReplyID   *string
	CreatedAt time.Time
}

// Reply classification tags (SPEC §8).
const (
	ReplyInterested    = "interested"
	ReplyNotInterested = "not_interested"
	ReplyOutOfOffice   = "out_of_office"
	ReplyUnsubscribe   = "unsubscribe"
	ReplyBounce        = "bounce"
	ReplyAsksPayment   = "asks_payment"
	ReplyNeutral       = "replied"
)

// ReplyTags lists every classification tag.
var ReplyTags = []string{
	ReplyInterested, ReplyNotInterested, ReplyOutOfOffice, ReplyUnsubscribe,
	ReplyBounce, ReplyAsksPayment, ReplyNeutral,
}

// Reply is an inbound message, matched to an attempt or not.
type Reply struct {
	ID string `gorm:"primaryKey"`
	// UserID, CampaignID, LeadID and AttemptID are empty for unmatched mail.
	UserID     *string
	CampaignID *string
	LeadID     *string
	AttemptID  *string
	// DedupeKey is the Message-ID, or a content hash when it is missing.
	DedupeKey      string
	MessageID      string
	InReplyTo      string
	FromAddress    string
	ToAddress      string
	Subject        string
	BodyText       string
	Classification string
	// BounceKind is hard or soft for bounces.
	BounceKind string
	BounceCode string
	OOOUntil   *time.Time `gorm:"column:ooo_until"`
	Parsed     bool
	ParseError string
	Source     string // imap or webhook
	Mailbox    string
	ReceivedAt time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}
