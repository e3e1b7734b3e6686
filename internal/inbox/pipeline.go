package inbox

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/metrics"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

// Sources of inbound mail (replies.source).
const (
	SourceIMAP    = "imap"
	SourceWebhook = "webhook"
)

// maxBodyStored bounds the text kept on a reply row.
const maxBodyStored = 100 << 10

// Inbound is one raw message to process.
type Inbound struct {
	Raw     []byte
	Source  string
	Mailbox string
	// UserID, set for the inbound webhook, limits matching to that user's
	// e-mails and scopes deduplication to the user, so one tenant's
	// messages can neither match nor shadow another's.
	UserID string
	// ReceivedAt is when the mailbox got the message (IMAP INTERNALDATE);
	// zero means now.
	ReceivedAt time.Time
}

// Outcome is what happened to one inbound message.
type Outcome struct {
	Reply models.Reply
	// New is false when the message was already stored (seen before, or in
	// another folder); nothing was written for it.
	New     bool
	Matched bool
	Result  Result
	// EffectOwed is set when the lead workflow must be signalled.
	EffectOwed bool
}

// Pipeline parses, deduplicates, matches, classifies and stores inbound
// mail. The suppression a reply implies is written with it; the signal to
// the lead workflow is recorded as a pending effect for Effects to deliver.
type Pipeline struct {
	DB *gorm.DB
	// Classifier decides the tag; nil means Rules.
	Classifier Classifier
	Log        *slog.Logger
	Now        func() time.Time
	// Workers bounds parallel parsing and classification; 0 means
	// GOMAXPROCS.
	Workers int
}

func (p *Pipeline) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

func (p *Pipeline) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Process handles a batch. Each message is parsed, classified and matched
// independently (in parallel); then all are stored in one transaction. An
// error means the batch was not stored (database trouble): the caller must
// not advance past it. A malformed message is never an error: it is stored
// with Parsed false.
func (p *Pipeline) Process(ctx context.Context, batch []Inbound) ([]Outcome, error) {
	out := make([]Outcome, len(batch))
	rows := make([]store.NewReply, len(batch))
	skip := make([]bool, len(batch))
	workers := p.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i := range batch {
		g.Go(func() error {
			row, o, dup, err := p.prepare(gctx, batch[i])
			if err != nil {
				return err
			}
			rows[i], out[i], skip[i] = row, o, dup
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var todo []store.NewReply
	var idx []int
	for i := range rows {
		if !skip[i] {
			todo = append(todo, rows[i])
			idx = append(idx, i)
		}
	}
	if len(todo) == 0 {
		return out, nil
	}
	fresh, err := store.StoreReplies(ctx, p.DB, todo, p.now())
	if err != nil {
		return nil, err
	}
	for j, i := range idx {
		out[i].New = fresh[j]
		out[i].Reply = todo[j].Reply
		if fresh[j] {
			metrics.RepliesTotal.WithLabelValues(classLabel(out[i].Reply)).Inc()
		}
	}
	return out, nil
}

func classLabel(r models.Reply) string {
	if !r.Parsed {
		return "unparsed"
	}
	return r.Classification
}

// prepare turns one message into a row to store. dup is set when the
// message is already stored, so it is neither classified nor matched again
// (a classifier may be a paid API).
func (p *Pipeline) prepare(ctx context.Context, in Inbound) (store.NewReply, Outcome, bool, error) {
	m := Parse(in.Raw)
	key := m.DedupeKey()
	if in.UserID != "" {
		key = "user:" + in.UserID + ":" + key
	}
	if prev, seen, err := store.ReplyByDedupeKey(ctx, p.DB, key); err != nil {
		return store.NewReply{}, Outcome{}, false, err
	} else if seen {
		return store.NewReply{}, Outcome{Reply: prev, Matched: prev.LeadID != nil}, true, nil
	}
	res := p.classify(ctx, m)
	received := in.ReceivedAt
	if received.IsZero() {
		received = p.now()
	}
	r := models.Reply{
		ID:             models.NewID(),
		DedupeKey:      key,
		MessageID:      clean(m.MessageID, 998),
		FromAddress:    clean(m.From, 320),
		Subject:        clean(m.Subject, 998),
		BodyText:       clean(m.Text, maxBodyStored),
		Classification: res.Tag,
		BounceKind:     res.BounceKind,
		BounceCode:     clean(res.BounceCode, 32),
		OOOUntil:       res.Until,
		Parsed:         m.Parsed,
		ParseError:     clean(m.ParseError, 500),
		Source:         in.Source,
		Mailbox:        clean(in.Mailbox, 200),
		ReceivedAt:     received.UTC(),
	}
	if len(m.InReplyTo) > 0 {
		r.InReplyTo = clean(m.InReplyTo[0], 998)
	}
	if len(m.To) > 0 {
		r.ToAddress = clean(m.To[0], 320)
	}
	if r.OOOUntil != nil {
		u := r.OOOUntil.UTC()
		r.OOOUntil = &u
	}
	a, ok, err := p.match(ctx, m, res, in.UserID)
	if err != nil {
		return store.NewReply{}, Outcome{}, false, err
	}
	row := store.NewReply{Reply: r}
	o := Outcome{Result: res}
	if ok {
		o.Matched = true
		row.Reply.UserID, row.Reply.CampaignID, row.Reply.LeadID, row.Reply.AttemptID = &a.UserID, &a.CampaignID, &a.LeadID, &a.ID
		switch {
		case res.Tag == models.ReplyUnsubscribe:
			row.Suppress, row.SuppressSource, row.SuppressReason = a.Recipient, models.SuppressUnsubscribe, "asked to unsubscribe in a reply"
		case res.Tag == models.ReplyNotInterested:
			row.Suppress, row.SuppressSource, row.SuppressReason = a.Recipient, models.SuppressNotInterested, "replied not interested"
		case res.Tag == models.ReplyBounce && res.BounceKind == BounceHard:
			row.Suppress, row.SuppressSource, row.SuppressReason = a.Recipient, models.SuppressHardBounce, "hard bounce "+res.BounceCode
		}
		// A delivery report without a failure changes nothing.
		row.Effect = !(res.Tag == models.ReplyBounce && res.BounceKind == "")
		o.EffectOwed = row.Effect
	}
	o.Reply = row.Reply
	return row, o, false, nil
}

func (p *Pipeline) classify(ctx context.Context, m *Message) Result {
	c := p.Classifier
	if c == nil {
		return classifyRules(m)
	}
	res, err := c.Classify(ctx, m)
	if err != nil || !slices.Contains(models.ReplyTags, res.Tag) {
		p.log().WarnContext(ctx, "classifier failed; using the rules", "error", err)
		return classifyRules(m)
	}
	return res
}

var textIDRe = regexp.MustCompile(`(?im)^\s*message-id:\s*<([^<>\s]{1,250})>`)

// match finds the e-mail a message answers: by its thread headers first
// (so a colleague answering in the thread still matches), then, for a
// bounce, by the original message it returns and the failed address, and
// otherwise by the sender's address against the latest e-mail to it.
func (p *Pipeline) match(ctx context.Context, m *Message, res Result, userID string) (models.Attempt, bool, error) {
	ids := append([]string(nil), m.InReplyTo...)
	for i := len(m.References) - 1; i >= 0; i-- {
		ids = append(ids, m.References[i])
	}
	bounce := res.Tag == models.ReplyBounce
	if bounce {
		ids = append(ids, m.EmbeddedIDs...)
		for _, sm := range textIDRe.FindAllStringSubmatch(m.Text, 10) {
			ids = append(ids, sm[1])
		}
	}
	ids = dedupeStrings(ids)
	if a, ok, err := store.AttemptByMessageIDs(ctx, p.DB, userID, ids); err != nil || ok {
		return a, ok, err
	}
	addr := m.From
	if bounce {
		addr = res.BounceRecipient
	}
	return store.LatestAttemptTo(ctx, p.DB, userID, addr)
}

func dedupeStrings(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := in[:0]
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// clean makes s storable: valid UTF-8 without NUL (PostgreSQL text refuses
// it), at most n bytes, cut on a rune boundary.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// ProcessOne handles a single message (the webhook).
func (p *Pipeline) ProcessOne(ctx context.Context, in Inbound) (Outcome, error) {
	out, err := p.Process(ctx, []Inbound{in})
	if err != nil {
		return Outcome{}, fmt.Errorf("process inbound message: %w", err)
	}
	return out[0], nil
}
