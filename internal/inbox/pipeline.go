package inbox

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
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

// Process handles a batch: Prepare, then Commit.
func (p *Pipeline) Process(ctx context.Context, batch []Inbound) ([]Outcome, error) {
	pr, err := p.Prepare(ctx, batch)
	if err != nil {
		return nil, err
	}
	return p.Commit(ctx, pr)
}

// Prepared is a batch parsed, classified and matched, ready to store.
type Prepared struct {
	out  []Outcome
	rows []store.NewReply
	// rowOut maps each row to its outcome; dupOut maps outcomes that copy
	// an earlier message of the batch to that message's outcome.
	rowOut []int
	dupOut map[int]int
}

// Prepare parses and classifies each message in parallel, and
// deduplicates and matches the batch with a few queries. It writes
// nothing, so the poller prepares the next page while the previous one is
// being committed. A malformed message is never an error: it is stored
// with Parsed false.
func (p *Pipeline) Prepare(ctx context.Context, batch []Inbound) (*Prepared, error) {
	ps, err := p.ParseBatch(ctx, batch)
	if err != nil {
		return nil, err
	}
	return p.PrepareParsed(ctx, ps)
}

// Parsed is a batch parsed, and classified already when classifying costs
// nothing but CPU (the built-in rules): the half of preparing it that needs
// no database, which the poller runs on one page while the page before is
// being deduplicated and matched.
type Parsed struct {
	batch []Inbound
	msgs  []*Message
	// res holds the rules' results; nil when the classifier runs after
	// deduplication (a paid API is never asked about a duplicate).
	res []Result
}

// ParseBatch parses (and, with the rules, classifies) each message in
// parallel.
func (p *Pipeline) ParseBatch(ctx context.Context, batch []Inbound) (*Parsed, error) {
	ps := &Parsed{batch: batch, msgs: make([]*Message, len(batch))}
	rules := p.Classifier == nil
	if _, ok := p.Classifier.(Rules); ok {
		rules = true
	}
	if rules {
		ps.res = make([]Result, len(batch))
	}
	err := p.parallel(ctx, len(batch), func(_ context.Context, i int) error {
		ps.msgs[i] = Parse(batch[i].Raw)
		if rules {
			ps.res[i] = classifyRules(ps.msgs[i])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ps, nil
}

// PrepareParsed deduplicates, classifies (when ParseBatch did not) and
// matches a parsed batch.
func (p *Pipeline) PrepareParsed(ctx context.Context, ps *Parsed) (*Prepared, error) {
	batch := ps.batch
	pr := &Prepared{
		out: make([]Outcome, len(batch)), rows: make([]store.NewReply, 0, len(batch)),
		rowOut: make([]int, 0, len(batch)), dupOut: map[int]int{},
	}
	// Matching is scoped by user (the webhook): handle each user's part of
	// the batch on its own.
	groups := map[string][]int{}
	var order []string
	for i, in := range batch {
		if _, ok := groups[in.UserID]; !ok {
			order = append(order, in.UserID)
		}
		groups[in.UserID] = append(groups[in.UserID], i)
	}
	for _, user := range order {
		if err := p.prepareGroup(ctx, ps, groups[user], user, pr); err != nil {
			return nil, err
		}
	}
	return pr, nil
}

// Commit stores a prepared batch in one transaction. An error means the
// batch was not stored (database trouble): the caller must not advance
// past it;
// also runs in the same transaction.
func (p *Pipeline) Commit(ctx context.Context, pr *Prepared, also ...func(tx *gorm.DB) error) ([]Outcome, error) {
	out := pr.out
	fresh, err := store.StoreReplies(ctx, p.DB, pr.rows, p.now(), also...)
	if err != nil {
		return nil, err
	}
	if len(pr.rows) > 0 {
		var lost []string
		for r, i := range pr.rowOut {
			out[i].Reply, out[i].New = pr.rows[r].Reply, fresh[r]
			if fresh[r] {
				metrics.RepliesTotal.WithLabelValues(classLabel(out[i].Reply)).Inc()
			} else {
				lost = append(lost, pr.rows[r].Reply.DedupeKey)
			}
		}
		if len(lost) > 0 {
			// Stored meanwhile (the page before, another poll): answer the
			// stored copy.
			prev, err := store.ExistingReplies(ctx, p.DB, lost)
			if err != nil {
				return nil, err
			}
			for _, i := range pr.rowOut {
				if r, ok := prev[out[i].Reply.DedupeKey]; ok && !out[i].New {
					out[i] = Outcome{Reply: r, Matched: r.LeadID != nil}
				}
			}
		}
	}
	for i, first := range pr.dupOut {
		out[i] = Outcome{Reply: out[first].Reply, Matched: out[first].Matched}
	}
	return out, nil
}

// mergePrepared joins consecutive prepared batches into one, so they can be
// stored in one transaction.
func mergePrepared(prs []*Prepared) *Prepared {
	if len(prs) == 1 {
		return prs[0]
	}
	var outs, rows int
	for _, pr := range prs {
		outs, rows = outs+len(pr.out), rows+len(pr.rows)
	}
	m := &Prepared{
		out: make([]Outcome, 0, outs), rows: make([]store.NewReply, 0, rows),
		rowOut: make([]int, 0, rows), dupOut: map[int]int{},
	}
	for _, pr := range prs {
		base := len(m.out)
		m.out = append(m.out, pr.out...)
		m.rows = append(m.rows, pr.rows...)
		for _, i := range pr.rowOut {
			m.rowOut = append(m.rowOut, base+i)
		}
		for i, first := range pr.dupOut {
			m.dupOut[base+i] = base + first
		}
	}
	return m
}

// item is one message on its way through the pipeline.
type item struct {
	m   *Message
	key string
	res Result
	// dupOf is the index of an earlier copy in the same batch, or -1.
	dupOf int
}

func (p *Pipeline) prepareGroup(ctx context.Context, ps *Parsed, idx []int, userID string, pr *Prepared) error {
	batch := ps.batch
	items := make([]item, len(idx))
	for j, i := range idx {
		m := ps.msgs[i]
		key := storable(m.DedupeKey())
		if userID != "" {
			key = "user:" + userID + ":" + key
		}
		items[j] = item{m: m, key: key, dupOf: -1}
		if ps.res != nil {
			items[j].res = ps.res[i]
		}
	}
	// Deduplicate within the batch, and against the database when the
	// classifier is still to run: a duplicate is not classified again (a
	// classifier may be a paid API). With the rules, classified already,
	// the insert's conflict on the dedupe key finds what was stored (see
	// Commit): one query fewer per page, and a duplicate is rare.
	first := make(map[string]int, len(items))
	var keys []string
	for j := range items {
		if k, ok := first[items[j].key]; ok {
			items[j].dupOf = k
			continue
		}
		first[items[j].key] = j
		keys = append(keys, items[j].key)
	}
	var stored map[string]models.Reply // read only: nil finds nothing
	if ps.res == nil {
		var err error
		if stored, err = store.ExistingReplies(ctx, p.DB, keys); err != nil {
			return err
		}
		if err := p.parallel(ctx, len(items), func(ctx context.Context, j int) error {
			if _, dup := stored[items[j].key]; !dup && items[j].dupOf < 0 {
				items[j].res = p.classify(ctx, items[j].m)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	matches, err := p.matchAll(ctx, items, stored, userID)
	if err != nil {
		return err
	}
	for j := range items {
		it := &items[j]
		i := idx[j]
		if prev, dup := stored[it.key]; dup {
			pr.out[i] = Outcome{Reply: prev, Matched: prev.LeadID != nil}
			continue
		}
		if it.dupOf >= 0 {
			pr.dupOut[i] = idx[it.dupOf]
			continue
		}
		row, o := p.row(it, batch[i], matches[j])
		pr.out[i] = o
		pr.rows = append(pr.rows, row)
		pr.rowOut = append(pr.rowOut, i)
	}
	return nil
}

// suppressReasons are the reasons written with the suppression a reply's
// tag implies, by source.
var suppressReasons = map[string]string{
	models.SuppressUnsubscribe:   "asked to unsubscribe in a reply",
	models.SuppressNotInterested: "replied not interested",
	models.SuppressHardBounce:    "hard bounce",
}

// parallel runs fn for 0..n-1 on Workers goroutines, each taking the next
// index until none is left (a goroutine per message grew a new stack for
// every message parsed).
func (p *Pipeline) parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	workers := p.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	g, gctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for range min(workers, n) {
		g.Go(func() error {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := fn(gctx, i); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

func classLabel(r models.Reply) string {
	if !r.Parsed {
		return "unparsed"
	}
	return r.Classification
}

// row builds the reply to store and what it implies.
func (p *Pipeline) row(it *item, in Inbound, a *models.Attempt) (store.NewReply, Outcome) {
	m, res := it.m, it.res
	received := in.ReceivedAt
	if received.IsZero() {
		received = p.now()
	}
	r := models.Reply{
		ID:             models.NewID(),
		DedupeKey:      it.key,
		MessageID:      clean(m.MessageID, 998),
		FromAddress:    clean(m.From, 320),
		Subject:        clean(m.Subject, 998),
		BodyText:       clean(m.Text, maxBodyStored),
		Classification: res.Tag,
		BounceKind:     res.BounceKind,
		BounceCode:     clean(res.BounceCode, 32),
		Parsed:         m.Parsed,
		ParseError:     clean(m.ParseError, 500),
		Source:         in.Source,
		Mailbox:        clean(in.Mailbox, 200),
		ReceivedAt:     received.UTC(),
	}
	if res.Until != nil {
		u := res.Until.UTC()
		r.OOOUntil = &u
	}
	if len(m.InReplyTo) > 0 {
		r.InReplyTo = clean(m.InReplyTo[0], 998)
	}
	if len(m.To) > 0 {
		r.ToAddress = clean(m.To[0], 320)
	}
	row := store.NewReply{Reply: r}
	o := Outcome{Result: res}
	if a != nil {
		o.Matched = true
		row.Reply.UserID, row.Reply.CampaignID, row.Reply.LeadID, row.Reply.AttemptID = &a.UserID, &a.CampaignID, &a.LeadID, &a.ID
		if src := models.ReplySuppressionSource(res.Tag, res.BounceKind); src != "" {
			row.Suppress, row.SuppressSource, row.SuppressReason = a.Recipient, src, suppressReasons[src]
			if src == models.SuppressHardBounce {
				row.SuppressReason += " " + res.BounceCode
			}
		}
		// A delivery report without a failure changes nothing.
		row.Effect = res.Tag != models.ReplyBounce || res.BounceKind != ""
		o.EffectOwed = row.Effect
	}
	o.Reply = row.Reply
	return row, o
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

// containsFoldASCII reports whether s holds sub (lower-case ASCII) in any
// ASCII case.
func containsFoldASCII(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for j < len(sub) {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				break
			}
			j++
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}

var textIDRe = regexp.MustCompile(`(?im)^\s*message-id:\s*<([^<>\s]{1,250})>`)

// candidateIDs are the Message-IDs a message may answer, in order of
// preference: In-Reply-To, References from the newest, and for a bounce
// the returned original's.
func candidateIDs(m *Message, res Result) []string {
	ids := append([]string(nil), m.InReplyTo...)
	for i := len(m.References) - 1; i >= 0; i-- {
		ids = append(ids, m.References[i])
	}
	if res.Tag == models.ReplyBounce {
		ids = append(ids, m.EmbeddedIDs...)
		// The case-insensitive, multi-line expression runs slowly over a
		// whole text: only where a "message-id:" may be. Of its letters,
		// only i and d end it, and they have no case forms beyond ASCII.
		if containsFoldASCII(m.Text, "-id:") {
			for _, sm := range textIDRe.FindAllStringSubmatch(m.Text, 10) {
				ids = append(ids, sm[1])
			}
		}
	}
	return dedupeStrings(ids)
}

// matchAll finds the e-mail each new message answers: by its thread
// headers first (so a colleague answering in the thread still matches),
// then, for a bounce, by the original it returns and the failed address,
// and otherwise by the sender's address against the latest e-mail to it.
// It answers, per item, the attempt or nil.
func (p *Pipeline) matchAll(ctx context.Context, items []item, stored map[string]models.Reply, userID string) ([]*models.Attempt, error) {
	out := make([]*models.Attempt, len(items))
	need := make([]bool, len(items))
	cands := make([][]string, len(items))
	var all []string
	for j := range items {
		if _, dup := stored[items[j].key]; dup || items[j].dupOf >= 0 {
			continue
		}
		need[j] = true
		cands[j] = candidateIDs(items[j].m, items[j].res)
		all = append(all, cands[j]...)
	}
	byID, err := store.AttemptsByMessageIDs(ctx, p.DB, userID, dedupeStrings(all))
	if err != nil {
		return nil, err
	}
	var addrs []string
	for j := range items {
		for _, id := range cands[j] {
			if a, ok := byID[id]; ok {
				out[j] = &a
				break
			}
		}
		if need[j] && out[j] == nil {
			if addr := senderOf(items[j]); addr != "" {
				addrs = append(addrs, addr)
			}
		}
	}
	if len(addrs) == 0 {
		return out, nil
	}
	byAddr, err := store.LatestAttemptsTo(ctx, p.DB, userID, addrs)
	if err != nil {
		return nil, err
	}
	for j := range items {
		if !need[j] || out[j] != nil {
			continue
		}
		if a, ok := byAddr[strings.ToLower(senderOf(items[j]))]; ok {
			out[j] = &a
		}
	}
	return out, nil
}

// senderOf is the address a message is matched by when no thread header
// names one of our e-mails: the failed recipient of a bounce, else the
// sender.
func senderOf(it item) string {
	if it.res.Tag == models.ReplyBounce {
		return it.res.BounceRecipient
	}
	return it.m.From
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
	s = storable(s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// storable is s as PostgreSQL text takes it: valid UTF-8 without NUL.
func storable(s string) string {
	if models.StorableText(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// ProcessOne handles a single message (the webhook).
func (p *Pipeline) ProcessOne(ctx context.Context, in Inbound) (Outcome, error) {
	out, err := p.Process(ctx, []Inbound{in})
	if err != nil {
		return Outcome{}, fmt.Errorf("process inbound message: %w", err)
	}
	return out[0], nil
}
