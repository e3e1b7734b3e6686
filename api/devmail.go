package api

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/backlinkoutreach/outreach/internal/devmail"
	"github.com/backlinkoutreach/outreach/internal/inbox"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

// The dev mailbox routes exist only under `outreach dev`, which passes
// DevMailboxRoutes in Deps.Extra. They show what the capturing SMTP server
// received and put replies into the IMAP inbox the reply poller reads, so a
// reply takes exactly the path a real one would: IMAP, parse, match,
// classify, effect on the lead workflow.
//
// Visibility: a captured message whose Message-ID belongs to another user's
// e-mail is hidden from you (404 when asked for by id); a message no e-mail
// of the engine carries (sent by some other program, or of a deleted
// campaign) is shown to every dev user, with null campaign and lead.

const (
	defaultDevMessagesPage = 50
	maxDevMessagesPage     = 500
	devLookupBatch         = 200
	maxDevReplyBody        = 64 << 10
)

// Kinds of injected reply.
const (
	DevReplyHuman = "reply"      // a person answers the thread
	DevReplyAuto  = "auto_reply" // an automatic answer (Auto-Submitted), e.g. out of office
	DevReplyDSN   = "bounce"     // a delivery status notification: hard bounce of the last e-mail
)

var devReplyKinds = []string{DevReplyHuman, DevReplyAuto, DevReplyDSN}

// DevMessage is one captured e-mail.
type DevMessage struct {
	ID         string    `json:"id" doc:"capture number; GET /dev/mailbox/messages/{capture_id} answers the raw message"`
	MessageID  string    `json:"message_id" doc:"without angle brackets"`
	From       string    `json:"from" doc:"SMTP envelope sender"`
	To         []string  `json:"to" doc:"SMTP envelope recipients"`
	Subject    string    `json:"subject"`
	ReceivedAt time.Time `json:"received_at"`
	Size       int64     `json:"size"`
	CampaignID *string   `json:"campaign_id" doc:"the campaign of the e-mail carrying this Message-ID; null when no e-mail of the engine does"`
	LeadID     *string   `json:"lead_id"`
	AttemptID  *string   `json:"attempt_id"`
	Step       *int      `json:"step" doc:"sequence step: 0 is the pitch, 1.. the follow-ups"`
}

// DevMessageList is a page of captured e-mails, newest first.
type DevMessageList struct {
	Items      []DevMessage `json:"items"`
	NextCursor *string      `json:"next_cursor"`
}

// DevReplyInput asks for a reply to a lead's last e-mail.
type DevReplyInput struct {
	LeadID string `json:"lead_id"`
	Body   string `json:"body" doc:"the reply's text (required for reply and auto_reply; the bounce notice's text for bounce)"`
	Kind   string `json:"kind,omitempty" doc:"reply (default: a person answers, In-Reply-To and References on the thread), auto_reply (Auto-Submitted: auto-replied) or bounce (an RFC 3464 delivery status notification: 5.1.1 for the last e-mail)"`
}

// DevInjectOut answers an injection: where the message landed and, when
// the poll ran, what the reply pipeline made of it.
type DevInjectOut struct {
	UID         uint32    `json:"uid" doc:"IMAP UID of the message in INBOX"`
	UIDValidity uint32    `json:"uid_validity"`
	MessageID   string    `json:"message_id"`
	InReplyTo   string    `json:"in_reply_to,omitempty"`
	Polled      bool      `json:"polled" doc:"the reply poll ran after the message was put in the inbox"`
	Poll        *PollOut  `json:"poll" doc:"the poll's answer; null when it did not run"`
	PollError   string    `json:"poll_error,omitempty" doc:"why the poll could not run now; the scheduled poll picks the message up later"`
	Reply       *ReplyOut `json:"reply" doc:"the stored reply when it matched one of your e-mails; null otherwise"`
}

// DevMailboxRoutes registers the /dev routes over box.
func DevMailboxRoutes(box *devmail.Mailbox) func(*Server) {
	return func(s *Server) {
		d := &devRoutes{s: s, box: box}
		pollQuery := []QueryParam{{
			Name: "poll", Type: "boolean",
			Description: "run the reply poll right away and answer its result (default true); with false the scheduled poll (REPLY_POLL_INTERVAL) picks the message up",
		}}
		s.Authed(Route{
			Method: http.MethodGet, Path: "/dev/mailbox/messages",
			Summary: "dev mode: e-mails captured by the dev mailbox's SMTP server, newest first, with the campaign, lead and step each belongs to", Tag: "dev",
			Response: DevMessageList{}, Handler: d.list, Query: []QueryParam{
				{Name: "campaign_id", Description: "only e-mails of this campaign of yours"},
				{Name: "lead_id", Description: "only e-mails to this lead"},
				{Name: "limit", Type: "integer", Description: "page size, 1 to 500, default 50"},
				{Name: "cursor", Description: "next_cursor of the previous page"},
			},
		})
		s.Authed(Route{
			Method: http.MethodGet, Path: "/dev/mailbox/messages/:capture_id",
			Summary: "dev mode: one captured e-mail, byte for byte as the SMTP server received it", Tag: "dev",
			Response: "", Produces: "message/rfc822", Handler: d.raw,
		})
		s.Authed(Route{
			Method: http.MethodPost, Path: "/dev/mailbox/replies",
			Summary: "dev mode: put a reply to a lead's last e-mail into the IMAP inbox (a person's answer, an automatic reply or a bounce), then poll, so the regular reply pipeline classifies it and the lead reacts", Tag: "dev",
			Request: DevReplyInput{}, Response: DevInjectOut{}, Status: http.StatusCreated, Query: pollQuery, Handler: d.injectReply,
		})
		s.Authed(Route{
			Method: http.MethodPost, Path: "/dev/mailbox/inbox",
			Summary: "dev mode: put a raw RFC 5322 message into the IMAP inbox (bare LF line ends become CRLF, as an MTA would deliver it), then poll", Tag: "dev",
			Request: "", Consumes: "message/rfc822", Response: DevInjectOut{}, Status: http.StatusCreated, Query: pollQuery,
			MaxBody: inbox.MaxRawBytes, Handler: d.injectRaw,
		})
	}
}

type devRoutes struct {
	s   *Server
	box *devmail.Mailbox
}

func (d *devRoutes) list(c *gin.Context) {
	v := &models.ValidationError{}
	checkQuery(c, v, "campaign_id", "lead_id", "limit", "cursor")
	limit := queryLimit(c, v, defaultDevMessagesPage, maxDevMessagesPage)
	var before uint64
	if raw, ok := c.GetQuery("cursor"); ok && raw != "" {
		n, err := strconv.ParseUint(raw, 10, 64)
		if err != nil || n == 0 {
			v.Add("cursor", "is not a cursor from this list; pass next_cursor from the previous page unchanged")
		}
		before = n
	}
	leadID, _ := c.GetQuery("lead_id")
	if leadID != "" && !models.ValidID(leadID) {
		v.Add("lead_id", "is not a lead id")
	}
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	user := currentUser(c)
	campaignID, _ := c.GetQuery("campaign_id")
	if campaignID != "" {
		if _, err := store.CampaignForUser(ctx, d.s.db, user.ID, campaignID); err != nil {
			fail(c, err)
			return
		}
	}
	all := d.box.Sent().All() // oldest first
	end := len(all)
	if before > 0 {
		end, _ = slices.BinarySearchFunc(all, before, func(m devmail.SentMessage, id uint64) int {
			n, _ := strconv.ParseUint(m.ID, 10, 64)
			switch {
			case n < id:
				return -1
			case n > id:
				return 1
			}
			return 0
		})
	}
	out := DevMessageList{Items: []DevMessage{}}
	// Newest first, a batch at a time, until the page (and one more, to
	// know whether there is a next page) is full.
	more := false
	for end > 0 && !more {
		start := max(0, end-devLookupBatch)
		batch := all[start:end]
		owners, err := d.attempts(c, batch)
		if err != nil {
			fail(c, err)
			return
		}
		for i := len(batch) - 1; i >= 0; i-- {
			a := owners[batch[i].MessageID]
			m := devMessage(batch[i], a)
			if !visible(a, user.ID) ||
				(campaignID != "" && (m.CampaignID == nil || *m.CampaignID != campaignID)) ||
				(leadID != "" && (m.LeadID == nil || *m.LeadID != leadID)) {
				continue
			}
			if len(out.Items) == limit {
				more = true
				break
			}
			out.Items = append(out.Items, m)
		}
		end = start
	}
	if more {
		next := out.Items[len(out.Items)-1].ID
		out.NextCursor = &next
	}
	c.JSON(http.StatusOK, out)
}

// attempts answers the engine's e-mails carrying the batch's Message-IDs.
func (d *devRoutes) attempts(c *gin.Context, batch []devmail.SentMessage) (map[string]models.Attempt, error) {
	ids := make([]string, 0, len(batch))
	for _, m := range batch {
		if m.MessageID != "" {
			ids = append(ids, m.MessageID)
		}
	}
	return store.AttemptsByMessageIDs(c.Request.Context(), d.s.db, "", ids)
}

// visible tells whether the caller may see a captured message whose
// Message-ID a carries (a is zero when no e-mail of the engine does).
func visible(a models.Attempt, userID string) bool {
	return a.ID == "" || a.UserID == userID
}

func devMessage(m devmail.SentMessage, a models.Attempt) DevMessage {
	out := DevMessage{
		ID: m.ID, MessageID: m.MessageID, From: m.From, To: m.To, Subject: m.Subject,
		ReceivedAt: m.ReceivedAt.UTC(), Size: m.Size,
	}
	if out.To == nil {
		out.To = []string{}
	}
	if a.ID != "" {
		step := a.Step
		out.CampaignID, out.LeadID, out.AttemptID, out.Step = &a.CampaignID, &a.LeadID, &a.ID, &step
	}
	return out
}

var errNoCapture = &httpError{status: http.StatusNotFound, code: CodeNotFound, message: "no such captured message"}

func (d *devRoutes) raw(c *gin.Context) {
	ctx := c.Request.Context()
	m, raw, err := d.box.Sent().Get(ctx, c.Param("capture_id"))
	if errors.Is(err, devmail.ErrNotFound) {
		fail(c, errNoCapture)
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	owners, err := d.attempts(c, []devmail.SentMessage{m})
	if err != nil {
		fail(c, err)
		return
	}
	if !visible(owners[m.MessageID], currentUser(c).ID) {
		fail(c, errNoCapture)
		return
	}
	c.Data(http.StatusOK, "message/rfc822", raw)
}

func (d *devRoutes) injectReply(c *gin.Context) {
	poll, ok := queryPoll(c)
	if !ok {
		return
	}
	var in DevReplyInput
	if err := decodeJSON(c, &in); err != nil {
		fail(c, err)
		return
	}
	if in.Kind == "" {
		in.Kind = DevReplyHuman
	}
	v := &models.ValidationError{}
	if !slices.Contains(devReplyKinds, in.Kind) {
		v.Add("kind", "must be one of "+strings.Join(devReplyKinds, ", "))
	}
	if strings.TrimSpace(in.LeadID) == "" {
		v.Add("lead_id", "is required")
	}
	switch {
	case strings.TrimSpace(in.Body) == "" && in.Kind != DevReplyDSN:
		v.Add("body", "is required: the text of the reply")
	case len(in.Body) > maxDevReplyBody:
		v.Add("body", fmt.Sprintf("at most %d bytes", maxDevReplyBody))
	case strings.ContainsRune(in.Body, 0):
		v.Add("body", "must not contain NUL characters")
	}
	if err := v.Err(); err != nil {
		fail(c, err)
		return
	}
	ctx := c.Request.Context()
	lead, err := store.LeadForUser(ctx, d.s.db, currentUser(c).ID, in.LeadID)
	if err != nil {
		fail(c, err)
		return
	}
	sent, err := store.DeliveredAttempts(ctx, d.s.db, lead.ID)
	if err != nil {
		fail(c, err)
		return
	}
	if len(sent) == 0 {
		fail(c, fmt.Errorf("%w: lead %s has not been sent an e-mail yet; there is nothing to reply to", models.ErrConflict, lead.ID))
		return
	}
	now := d.s.now()
	raw, msgID := buildDevReply(in, lead, sent, d.s.cfg.SMTPFrom, now)
	d.inject(c, raw, msgID, "<"+sent[len(sent)-1].MessageID+">", now, poll)
}

func (d *devRoutes) injectRaw(c *gin.Context) {
	poll, ok := queryPoll(c)
	if !ok {
		return
	}
	raw, ok := readRawMessage(c)
	if !ok {
		return
	}
	raw = crlf(raw)
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil || len(msg.Header) == 0 {
		v := &models.ValidationError{}
		v.Add("body", "is not an RFC 5322 message: send a header block, an empty line and the body")
		fail(c, v)
		return
	}
	now := d.s.now()
	d.inject(c, raw, strings.Trim(strings.TrimSpace(msg.Header.Get("Message-Id")), "<>"), msg.Header.Get("In-Reply-To"), now, poll)
}

// inject puts raw into INBOX and, when asked, runs the reply poll and
// finds the reply it stored. The message is in the inbox once this
// answers 201, whatever the poll did: a client retrying would only add a
// second message.
func (d *devRoutes) inject(c *gin.Context, raw []byte, msgID, inReplyTo string, now time.Time, poll bool) {
	ctx := c.Request.Context()
	ad, err := d.box.Inject(ctx, raw, now)
	if err != nil {
		fail(c, err)
		return
	}
	out := DevInjectOut{UID: uint32(ad.UID), UIDValidity: ad.UIDValidity, MessageID: msgID, InReplyTo: strings.TrimSpace(inReplyTo)}
	if poll {
		// The key the pipeline stores the reply under, read the way it
		// reads it (a Message-ID in any form it accepts, else the hash).
		if err := d.poll(c, inbox.Parse(raw).DedupeKey(), &out); err != nil {
			fail(c, err)
			return
		}
	}
	c.JSON(http.StatusCreated, out)
}

// poll runs the reply poll and finds the injected message's reply, stored
// under key. A poll that cannot run is reported in out, not as an error:
// the message is in the inbox either way.
func (d *devRoutes) poll(c *gin.Context, key string, out *DevInjectOut) error {
	ctx := c.Request.Context()
	eng := d.s.replyEngine()
	if eng == nil {
		out.PollError = "no workflow engine is configured in this process"
		return nil
	}
	// A poll already running when the message arrived is joined, and may
	// have looked at the inbox before it: then one more poll finds it.
	for try := 0; try < 2; try++ {
		res, err := eng.PollReplies(ctx)
		if err != nil {
			loggerFrom(c).WarnContext(ctx, "dev mailbox: reply poll after injection failed", "error", err)
			out.PollError = "the reply poll could not run now; the scheduled poll will pick the message up"
			if errors.Is(err, errPollingOff) {
				out.PollError = "reply polling is off (IMAP_HOST is not set on the workers)"
			}
			return nil
		}
		out.Polled = true
		if out.Poll == nil {
			out.Poll = &PollOut{}
		}
		out.Poll.RepliesFound += res.ByUser[currentUser(c).ID]
		out.Poll.Failed += res.Failed
		found, err := store.ExistingReplies(ctx, d.s.db, []string{key})
		if err != nil {
			return err
		}
		if r, ok := found[key]; ok {
			return d.reply(c, r.ID, out)
		}
	}
	return nil
}

// reply fills out.Reply with the stored reply when it is the caller's.
func (d *devRoutes) reply(c *gin.Context, replyID string, out *DevInjectOut) error {
	ctx := c.Request.Context()
	full, err := store.ReplyForUser(ctx, d.s.db, currentUser(c).ID, replyID)
	if errors.Is(err, models.ErrReplyNotFound) {
		return nil // unmatched, or another user's e-mail
	}
	if err != nil {
		return err
	}
	effect, err := d.s.effectOf(ctx, full.ID)
	if err != nil {
		return err
	}
	ro := replyOut(full, effect)
	out.Reply = &ro
	return nil
}

// queryPoll reads ?poll= (default true), the inject routes' only query
// parameter; on bad input it answers the 422 and returns ok false.
func queryPoll(c *gin.Context) (poll, ok bool) {
	v := &models.ValidationError{}
	checkQuery(c, v, "poll")
	poll = true
	if _, set := c.GetQuery("poll"); set {
		poll = queryBool(c, v, "poll")
	}
	if err := v.Err(); err != nil {
		fail(c, err)
		return false, false
	}
	return poll, true
}

// buildDevReply writes the message a lead's mail system would send back to
// its last e-mail (sent, in sequence order, is not empty).
func buildDevReply(in DevReplyInput, lead models.Lead, sent []models.Attempt, ourAddr string, now time.Time) ([]byte, string) {
	last := sent[len(sent)-1]
	domain := last.RecipientDomain
	if domain == "" {
		domain = "example.com"
	}
	msgID := "dev-" + in.Kind + "." + randomHex(8) + "@" + domain
	subject := sent[0].Subject
	if last.Subject != "" {
		subject = last.Subject
	}
	var b bytes.Buffer
	h := func(k, val string) { b.WriteString(k + ": " + val + "\r\n") }
	h("Date", now.Format(time.RFC1123Z))
	h("Message-ID", "<"+msgID+">")
	h("To", ourAddr)
	h("MIME-Version", "1.0")
	if in.Kind == DevReplyDSN {
		writeDSN(&b, h, in.Body, last, domain)
		return b.Bytes(), msgID
	}
	from := (&mail.Address{Name: lead.ContactName, Address: last.Recipient}).String()
	h("From", from)
	refs := make([]string, len(sent))
	for i, a := range sent {
		refs[i] = "<" + a.MessageID + ">"
	}
	h("In-Reply-To", "<"+last.MessageID+">")
	h("References", strings.Join(refs, " "))
	if in.Kind == DevReplyAuto {
		h("Subject", mime.QEncoding.Encode("utf-8", "Automatic reply: "+subject))
		h("Auto-Submitted", "auto-replied")
	} else {
		h("Subject", mime.QEncoding.Encode("utf-8", reSubject(subject)))
	}
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	text := strings.TrimRight(in.Body, "\r\n") + "\n"
	if in.Kind == DevReplyHuman && last.Body != "" {
		// A person's client quotes what it answers; the pipeline strips it.
		text += "\nOn " + last.CreatedAt.UTC().Format("Mon, Jan 2, 2006 at 15:04") + ", " + ourAddr + " wrote:\n"
		for line := range strings.SplitSeq(strings.TrimRight(last.Body, "\r\n"), "\n") {
			text += "> " + strings.TrimRight(line, "\r") + "\n"
		}
	}
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write(crlf([]byte(text)))
	_ = qp.Close()
	return b.Bytes(), msgID
}

// writeDSN writes a delivery status notification (RFC 3464) reporting a
// permanent failure of the e-mail last, with its headers returned.
func writeDSN(b *bytes.Buffer, h func(k, v string), text string, last models.Attempt, domain string) {
	boundary := "dsn-" + randomHex(8)
	h("From", "Mail Delivery System <MAILER-DAEMON@mx."+domain+">")
	h("Subject", "Undelivered Mail Returned to Sender")
	h("Auto-Submitted", "auto-replied")
	h("Content-Type", `multipart/report; report-type=delivery-status; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	if strings.TrimSpace(text) == "" {
		text = "Your message could not be delivered to one or more recipients.\n\n<" + last.Recipient + ">: user unknown"
	}
	b.WriteString("--" + boundary + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(b)
	_, _ = qp.Write(crlf([]byte(strings.TrimRight(text, "\r\n") + "\n")))
	_ = qp.Close()
	b.WriteString("\r\n--" + boundary + "\r\nContent-Type: message/delivery-status\r\n\r\n")
	b.WriteString("Reporting-MTA: dns; mx." + domain + "\r\n\r\n")
	b.WriteString("Final-Recipient: rfc822; " + last.Recipient + "\r\nAction: failed\r\nStatus: 5.1.1\r\n")
	b.WriteString("Diagnostic-Code: smtp; 550 5.1.1 <" + last.Recipient + ">: Recipient address rejected: User unknown\r\n")
	b.WriteString("\r\n--" + boundary + "\r\nContent-Type: text/rfc822-headers\r\n\r\n")
	b.WriteString("Message-ID: <" + last.MessageID + ">\r\nTo: " + last.Recipient + "\r\nSubject: " +
		mime.QEncoding.Encode("utf-8", last.Subject) + "\r\n")
	b.WriteString("\r\n--" + boundary + "--\r\n")
}

func reSubject(s string) string {
	if len(s) >= 3 && strings.EqualFold(s[:3], "re:") {
		return s
	}
	return "Re: " + s
}

// crlf turns bare LF line ends into CRLF, as IMAP (RFC 3501) wants them.
func crlf(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

func randomHex(n int) string {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return hex.EncodeToString(p)
}
