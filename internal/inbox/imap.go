package inbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/config"
	"github.com/backlinkoutreach/outreach/internal/store"
)

// IMAPConfig says how to reach the sending mailbox.
type IMAPConfig struct {
	Host     string
	Port     int
	Username string
	Password string
	// TLS is tls (implicit, port 993), starttls (port 143) or none
	// (development only).
	TLS string
	// SkipVerify turns certificate checks off (development only).
	SkipVerify bool
	Mailboxes  []string
	// FetchLimit is how many messages one UID FETCH asks for.
	FetchLimit int
	// Timeout bounds every read and write on the connection; 0 means 2 min.
	Timeout time.Duration
}

// ConfigFrom reads the IMAP settings of the service configuration.
func ConfigFrom(c config.Config) IMAPConfig {
	var boxes []string
	for _, b := range strings.Split(c.IMAPMailboxes, ",") {
		if b = strings.TrimSpace(b); b != "" {
			boxes = append(boxes, b)
		}
	}
	return IMAPConfig{
		Host: c.IMAPHost, Port: c.IMAPPort, Username: c.IMAPUsername, Password: c.IMAPPassword,
		TLS: c.IMAPTLS, SkipVerify: c.IMAPTLSSkipVerify, Mailboxes: boxes, FetchLimit: c.IMAPFetchLimit,
	}
}

// Addr is host:port.
func (c IMAPConfig) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// Poller reads new mail from IMAP mailboxes into the Pipeline. It is
// read-only: mailboxes are opened with EXAMINE and bodies fetched with
// BODY.PEEK[], so no flag changes and nothing is deleted. Each mailbox has a
// checkpoint (its UIDVALIDITY and the last UID stored); a poll fetches the
// UIDs above it, a page of FetchLimit at a time, and moves the checkpoint
// only after a page is stored, so a dropped connection loses nothing and,
// with deduplication, counts nothing twice.
type Poller struct {
	Config   IMAPConfig
	Pipeline *Pipeline
	DB       *gorm.DB
	Log      *slog.Logger
	Now      func() time.Time
	// Dial makes the TCP connection; nil uses a net.Dialer (tests route
	// through a proxy here).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// OnStored, when set, is called with the outcomes of each group of
	// pages once they are stored (the activity delivers their effects
	// then, not only after the whole poll).
	OnStored func([]Outcome)
	// OnPage, when set, is called after each stored page (the activity
	// heartbeats there).
	OnPage func(PollStats)
}

// PollStats counts one poll.
type PollStats struct {
	Mailboxes int
	// Fetched counts messages read from the server, Duplicates those
	// already stored.
	Fetched    int
	Duplicates int
	// New counts messages stored by this poll; Unparsed those among them
	// that could not be read as MIME (stored for review).
	New      int
	Unparsed int
	// ByUser counts new matched replies per user.
	ByUser map[string]int
}

func (s *PollStats) add(out []Outcome) {
	for _, o := range out {
		s.Fetched++
		if !o.New {
			s.Duplicates++
			continue
		}
		s.New++
		if !o.Reply.Parsed {
			s.Unparsed++
		}
		if o.Reply.UserID != nil {
			if s.ByUser == nil {
				s.ByUser = map[string]int{}
			}
			s.ByUser[*o.Reply.UserID]++
		}
	}
}

// Poll reads every configured mailbox until it is caught up. A mailbox
// that fails (deleted, misspelt, a broken message) does not keep the others
// from being read: the error names every mailbox that failed, after all
// were tried (each after a failure on a fresh connection).
func (p *Poller) Poll(ctx context.Context) (PollStats, error) {
	var st PollStats
	c, err := p.connect(ctx)
	if err != nil {
		return st, err
	}
	defer func() {
		if c != nil { // nil when a reconnection failed
			_ = c.Close()
		}
	}()
	var errs []error
	for i, mb := range p.Config.Mailboxes {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		err := p.pollMailbox(ctx, c, mb, &st)
		if err == nil {
			st.Mailboxes++
			continue
		}
		errs = append(errs, fmt.Errorf("mailbox %s: %w", mb, err))
		if i == len(p.Config.Mailboxes)-1 {
			break
		}
		// The failure may have left the connection mid-command (a message
		// cut inside its literal): the next mailbox gets a new one.
		_ = c.Close()
		if c, err = p.connect(ctx); err != nil {
			return st, errors.Join(append(errs, err)...)
		}
	}
	_ = c.Logout().Wait()
	return st, errors.Join(errs...)
}

// deadlineConn renews the read and write deadlines before each operation,
// so a server that stops answering fails the poll instead of hanging it.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (d deadlineConn) Read(b []byte) (int, error) {
	_ = d.SetReadDeadline(time.Now().Add(d.timeout))
	return d.Conn.Read(b)
}

func (d deadlineConn) Write(b []byte) (int, error) {
	_ = d.SetWriteDeadline(time.Now().Add(d.timeout))
	return d.Conn.Write(b)
}

func (p *Poller) connect(ctx context.Context) (*imapclient.Client, error) {
	cfg := p.Config
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	dial := p.Dial
	if dial == nil {
		d := &net.Dialer{Timeout: 30 * time.Second}
		dial = d.DialContext
	}
	raw, err := dial(ctx, "tcp", cfg.Addr())
	if err != nil {
		return nil, fmt.Errorf("imap connect %s: %w", cfg.Addr(), err)
	}
	conn := net.Conn(deadlineConn{Conn: raw, timeout: timeout})
	tlsCfg := &tls.Config{ServerName: cfg.Host, InsecureSkipVerify: cfg.SkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // IMAP_TLS_SKIP_VERIFY is an explicit development switch
	opts := &imapclient.Options{TLSConfig: tlsCfg}
	var c *imapclient.Client
	switch cfg.TLS {
	case "tls":
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("imap tls handshake with %s: %w", cfg.Addr(), err)
		}
		c = imapclient.New(tc, opts)
	case "starttls":
		c, err = imapclient.NewStartTLS(conn, opts)
		if err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("imap starttls with %s: %w", cfg.Addr(), err)
		}
	default:
		c = imapclient.New(conn, opts)
	}
	// The client has no context support: closing it is what cancels a
	// command in flight.
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	go func() {
		<-c.Closed()
		stop()
	}()
	if err := c.WaitGreeting(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("imap greeting from %s: %w", cfg.Addr(), err)
	}
	if cfg.Username != "" {
		if err := c.Login(cfg.Username, cfg.Password).Wait(); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("imap login as %s: %w", cfg.Username, err)
		}
	}
	return c, nil
}

// CheckpointKey names a mailbox's checkpoint: the account and the mailbox,
// so pointing the service at another account starts afresh.
func (p *Poller) CheckpointKey(mailbox string) string {
	return p.Config.Username + "@" + p.Config.Addr() + "/" + mailbox
}

func (p *Poller) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

func (p *Poller) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (p *Poller) pollMailbox(ctx context.Context, c *imapclient.Client, mailbox string, st *PollStats) error {
	key := p.CheckpointKey(mailbox)
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return fmt.Errorf("examine: %w", err)
	}
	cp, ok, err := store.Checkpoint(ctx, p.DB, key)
	if err != nil {
		return err
	}
	f := &pageFetcher{c: c, limit: max(1, p.Config.FetchLimit), log: p.log(), mailbox: mailbox}
	start := uint32(0) // the checkpoint the poll begins at
	if ok && cp.UIDValidity == sel.UIDValidity {
		last := cp.LastUID
		start = last
		if sel.UIDNext != 0 && uint32(sel.UIDNext) <= last+1 {
			return nil // nothing new
		}
		if sel.UIDNext != 0 {
			// New messages are read by UID range, a page at a time, with
			// no list of their UIDs: a range holds at most a page of
			// messages, and UIDNEXT bounds them (a message delivered
			// later gets a higher UID), so a range read whole can be
			// checkpointed to its end. Replies arrive one after another,
			// so ranges are full; once one comes back with gaps (mail
			// moved or deleted), the UIDs after the ranges sent are
			// listed instead.
			f.rangeNext, f.rangeEnd = imap.UID(last+1), imap.UID(uint32(sel.UIDNext)-1)
		} else {
			f.listFrom, f.listAbove = imap.UID(last+1), last
		}
	} else {
		// First poll, or the mailbox was rebuilt (new UIDVALIDITY): read
		// from the day before the first e-mail ever sent; nothing older
		// can be a reply. Messages stored before are recognised by
		// deduplication.
		if ok {
			p.log().WarnContext(ctx, "UIDVALIDITY changed; reading the mailbox again", "mailbox", mailbox,
				"old", cp.UIDValidity, "new", sel.UIDValidity)
		}
		since, sent, err := store.EarliestAttempt(ctx, p.DB)
		if err != nil {
			return err
		}
		if !sent {
			if sel.UIDNext > 1 {
				return store.SaveCheckpoint(ctx, p.DB, key, sel.UIDValidity, uint32(sel.UIDNext)-1, p.now())
			}
			return nil
		}
		data, err := c.UIDSearch(&imap.SearchCriteria{Since: since.AddDate(0, 0, -1)}, nil).Wait()
		if err != nil {
			return fmt.Errorf("uid search: %w", err)
		}
		uids := data.AllUIDs()
		if len(uids) == 0 && sel.UIDNext > 1 {
			return store.SaveCheckpoint(ctx, p.DB, key, sel.UIDValidity, uint32(sel.UIDNext)-1, p.now())
		}
		f.addPages(uids, 0)
	}
	// A four-stage pipeline: while a page is stored, the next is matched
	// against the database, the one after parsed and classified, and the
	// one after that fetched. Pages are stored and checkpointed strictly in order; when
	// storing falls behind, the pages waiting are stored together (one
	// transaction, one commit: on SQLite a commit writes every page of the
	// tables and indexes it touched, on PostgreSQL it waits for a flush).
	// The stages stop on cancel, and pollMailbox returns only once they
	// have: the fetch stage must not be inside a FETCH on the shared
	// client when the caller goes on with it (the next mailbox, logout).
	var stages sync.WaitGroup
	defer stages.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fetchedCh := make(chan stage, 1)
	parsedCh := make(chan stage, 1)
	preparedCh := make(chan stage, maxPagesWaiting)
	stages.Go(func() {
		defer close(fetchedCh)
		defer f.drain()
		for {
			s, ok := f.next()
			if !ok {
				return
			}
			select {
			case fetchedCh <- s:
			case <-ctx.Done():
				return
			}
			if s.err != nil {
				return
			}
		}
	})
	parse := func(s *stage) {
		s.ps, s.perr = p.Pipeline.ParseBatch(ctx, inbound(s.msgs, mailbox))
		s.got = make([]imap.UID, len(s.msgs))
		for i, m := range s.msgs {
			s.got[i] = m.uid
		}
		s.msgs = nil // the bodies are parsed; only their UIDs are needed now
	}
	prepare := func(s *stage) {
		if s.perr == nil {
			s.pr, s.perr = p.Pipeline.PrepareParsed(ctx, s.ps)
			s.ps = nil
		}
	}
	bounds := &checkpointBounds{ceiling: math.MaxUint32, highest: start, saved: start}
	stages.Go(func() { relay(ctx, fetchedCh, parsedCh, parse) })
	stages.Go(func() { relay(ctx, parsedCh, preparedCh, prepare) })
	for s := range preparedCh {
		group := nextGroup(s, preparedCh)
		// A page that could not be prepared (database trouble) stops the
		// poll; the pages before it are stored.
		var perr error
		if last := group[len(group)-1]; last.perr != nil {
			perr = last.perr
			group = group[:len(group)-1]
		}
		if len(group) > 0 {
			if err := p.storePages(ctx, key, sel.UIDValidity, group, bounds, st); err != nil {
				return err
			}
		}
		if perr != nil {
			return perr
		}
	}
	return ctx.Err()
}

// relay is one stage of the poll's pipeline: it applies step to each page
// from in and passes the page on, until the pages end, the poll is
// cancelled, or a page could not be prepared (passed on, then nothing
// after it).
func relay(ctx context.Context, in <-chan stage, out chan<- stage, step func(*stage)) {
	defer close(out)
	for s := range in {
		step(&s)
		select {
		case out <- s:
		case <-ctx.Done():
			return
		}
		if s.perr != nil {
			return
		}
	}
}

// Group commit bounds: pages prepared ahead of the store, and messages
// stored in one transaction.
const (
	maxPagesWaiting  = 4
	maxGroupMessages = 500
)

// nextGroup is first and the pages already waiting after it, up to
// maxGroupMessages; a page that failed (to fetch or to prepare) ends a
// group.
func nextGroup(first stage, ch <-chan stage) []stage {
	group := []stage{first}
	n := len(first.got)
	for s := first; n < maxGroupMessages && s.err == nil && s.perr == nil; {
		var ok bool
		select {
		case s, ok = <-ch:
			if !ok {
				return group
			}
		default:
			return group
		}
		group = append(group, s)
		n += len(s.got)
	}
	return group
}

// stage is one page on its way through the poll.
type stage struct {
	// uids are the page's UIDs, or for a range (ranged) its first and
	// last.
	uids   []imap.UID
	ranged bool
	// bodiless are UIDs answered with no body (fetchedPage).
	bodiless []imap.UID
	msgs     []fetched
	// got are the UIDs read completely, in order.
	got  []imap.UID
	err  error // the fetch's
	ps   *Parsed
	pr   *Prepared
	perr error // the preparation's
}

// sendList asks for the UIDs from first up with UID FETCH first:* (UID):
// the same list as UID SEARCH UID first:*, but servers answer it from
// their index, where some (go-imap's in-memory server among them) read
// every message to evaluate any SEARCH.
func sendList(c *imapclient.Client, first imap.UID) *imapclient.FetchCommand {
	return c.Fetch(imap.UIDSet{imap.UIDRange{Start: first, Stop: 0}}, &imap.FetchOptions{UID: true})
}

// readList reads sendList's answer.
func readList(cmd *imapclient.FetchCommand) ([]imap.UID, error) {
	var uids []imap.UID
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		for item := msg.Next(); item != nil; item = msg.Next() {
			if it, ok := item.(imapclient.FetchItemDataUID); ok {
				uids = append(uids, it.UID)
			}
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, fmt.Errorf("uid fetch of new uids: %w", err)
	}
	return uids, nil
}

// fetchAhead is how many pages' UID FETCH commands are sent before the
// page being read: the server prepares the next pages while this one is
// read and processed, rather than waiting a round trip each time, or
// longer when the poller's other stages keep this one from reading.
const fetchAhead = 2

// fetchPage is one page to fetch: its UIDs, or for a range (ranged) its
// first and last UID.
type fetchPage struct {
	uids   []imap.UID
	ranged bool
}

func (pg fetchPage) set() imap.UIDSet {
	if pg.ranged {
		return imap.UIDSet{imap.UIDRange{Start: pg.uids[0], Stop: pg.uids[1]}}
	}
	return imap.UIDSetNum(pg.uids...)
}

// pageFetcher reads a mailbox's new messages page by page, in UID order,
// with pipelined commands: one UID FETCH per page (IMAP_FETCH_LIMIT bounds
// each), sent fetchAhead pages ahead. go-imap's client hands each FETCH
// response to the command whose UID set holds its UID, and the server
// answers commands in the order sent, so they are read in that order.
type pageFetcher struct {
	c       *imapclient.Client
	limit   int
	log     *slog.Logger
	mailbox string
	// rangeNext..rangeEnd are the UIDs still to read by range, while
	// ranges come back full.
	rangeNext, rangeEnd imap.UID
	// listFrom, when set, is where the list of the UIDs to read starts;
	// listed UIDs at or below listAbove are not new ("n:*" answers the
	// last message even when its UID is below n).
	listFrom  imap.UID
	listAbove uint32
	list      *imapclient.FetchCommand

	pages []fetchPage
	cmds  []*imapclient.FetchCommand // sent, for pages[:len(cmds)]
	read  int                        // pages read
}

// addPages splits uids above above into pages.
func (f *pageFetcher) addPages(uids []imap.UID, above uint32) {
	uids = slices.DeleteFunc(uids, func(u imap.UID) bool { return uint32(u) <= above })
	slices.Sort(uids)
	for len(uids) > 0 {
		page := uids[:min(f.limit, len(uids))]
		uids = uids[len(page):]
		f.pages = append(f.pages, fetchPage{uids: page})
	}
}

// fill sends the commands for the next page to read and the fetchAhead
// pages after it, taking new ranges as needed, or the listing that
// replaces them.
func (f *pageFetcher) fill() {
	for len(f.cmds) < f.read+1+fetchAhead {
		if len(f.cmds) == len(f.pages) {
			if f.rangeNext == 0 || f.rangeNext > f.rangeEnd {
				break
			}
			stop := imap.UID(min(uint64(f.rangeNext)+uint64(f.limit)-1, uint64(f.rangeEnd))) //nolint:gosec // limit is at least 1; stop is at most rangeEnd
			f.pages = append(f.pages, fetchPage{uids: []imap.UID{f.rangeNext, stop}, ranged: true})
			f.rangeNext = stop + 1
			if stop == f.rangeEnd {
				f.rangeNext = 0 // done; and stop+1 may wrap
			}
		}
		f.cmds = append(f.cmds, sendFetch(f.c, f.pages[len(f.cmds)].set()))
	}
	if f.listFrom != 0 && f.list == nil && len(f.cmds) == len(f.pages) {
		f.list = sendList(f.c, f.listFrom)
		f.listFrom = 0
	}
}

// next reads the next page: its messages read completely, in UID order,
// those answered without their body, and the command's error; ok is false
// when every page has been read.
func (f *pageFetcher) next() (stage, bool) {
	f.fill()
	if f.read == len(f.pages) && f.list != nil {
		uids, err := readList(f.list)
		f.list = nil
		if err != nil {
			return stage{err: err}, true
		}
		f.addPages(uids, f.listAbove)
		f.fill()
	}
	if f.read == len(f.pages) {
		return stage{}, false
	}
	page := f.pages[f.read]
	s := stage{uids: page.uids, ranged: page.ranged}
	var got fetchedPage
	got, s.err = readFetch(f.cmds[f.read])
	s.msgs, s.bodiless = got.msgs, got.bodiless
	f.read++
	if len(got.nilBody) > 0 {
		f.log.Warn("the IMAP server answered messages without their body; they are skipped",
			"mailbox", f.mailbox, "uids", got.nilBody)
	}
	if s.err == nil && page.ranged && f.rangeNext != 0 && len(s.msgs) < int(page.uids[1]-page.uids[0])+1 {
		// A range with gaps: list the UIDs after the ranges sent rather
		// than read more ranges that may be mostly empty.
		f.listFrom, f.listAbove = f.rangeNext, uint32(f.rangeNext)-1
		f.rangeNext = 0
	}
	return s, true
}

// drain waits out the commands sent and not read, in the order they were
// sent, discarding their answers, so the client is free for the caller's
// next command. On a broken connection they fail at once.
func (f *pageFetcher) drain() {
	// A listing is sent after every page command sent before it is read,
	// and no page command is sent while it is pending.
	for _, cmd := range f.cmds[f.read:] {
		_ = cmd.Close()
	}
	if f.list != nil {
		_ = f.list.Close()
	}
}

// sendFetch sends a page's UID FETCH (UID INTERNALDATE BODY.PEEK[]).
func sendFetch(c *imapclient.Client, set imap.UIDSet) *imapclient.FetchCommand {
	opts := &imap.FetchOptions{UID: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}
	return c.Fetch(set, opts)
}

type fetched struct {
	uid      imap.UID
	received time.Time
	raw      []byte
}

func inbound(msgs []fetched, mailbox string) []Inbound {
	batch := make([]Inbound, len(msgs))
	for i, m := range msgs {
		batch[i] = Inbound{Raw: m.raw, Source: SourceIMAP, Mailbox: mailbox, ReceivedAt: m.received}
	}
	return batch
}

// safeUID is the UID the checkpoint may move to once a page is stored: its
// last, or when the connection broke mid-page (err), just below the first
// message missing (0 when that is its first), and below any message
// answered without its body. For a range, which UIDs exist is not known:
// the checkpoint moves only over those read one after the other from its
// first, so whatever order the server answered in, none is missed.
func (s stage) safeUID() uint32 {
	safe := s.readThrough()
	for _, u := range s.bodiless {
		if uint32(u) <= safe {
			safe = uint32(u) - 1
		}
	}
	return safe
}

// readThrough is the last UID up to which every message of the page was
// read (0 for none).
func (s stage) readThrough() uint32 {
	if s.err == nil {
		return uint32(s.uids[len(s.uids)-1])
	}
	got := make(map[imap.UID]bool, len(s.got))
	for _, u := range s.got {
		got[u] = true
	}
	safe := uint32(0)
	if s.ranged {
		for u := s.uids[0]; u <= s.uids[1] && got[u]; u++ {
			safe = uint32(u)
		}
		return safe
	}
	for _, u := range s.uids {
		if !got[u] {
			break
		}
		safe = uint32(u)
	}
	return safe
}

// checkpointBounds bound the checkpoint over a mailbox's poll, whatever its
// pages allow: below any message answered without its body (ceiling; the
// next poll reads it again and recognises the messages after it as
// stored), and at most the highest UID read (highest, from the checkpoint
// the poll began at). A range read whole ends at UIDNEXT-1, which a server
// may have given a message not yet visible: the checkpoint does not pass
// it before the message is read.
type checkpointBounds struct {
	ceiling, highest uint32
	// saved is the checkpoint stored (at the poll's start, then by each
	// group): one no higher is not written again.
	saved uint32
}

// take adds page s, the next in order, to the bounds and answers the
// checkpoint it allows, or 0 for none past the one stored. safeUID keeps s
// below its own messages answered without a body; the ceiling, below those
// of the pages before.
func (b *checkpointBounds) take(s stage) uint32 {
	for _, u := range s.got {
		b.highest = max(b.highest, uint32(u))
	}
	u := min(s.safeUID(), b.ceiling, b.highest)
	for _, x := range s.bodiless {
		b.ceiling = min(b.ceiling, uint32(x)-1)
	}
	if u <= b.saved {
		return 0
	}
	return u
}

// storePages stores and checkpoints consecutive prepared pages in one
// transaction. Only the last page can carry a fetch error (the fetch stops
// there); the messages it read completely are still stored.
func (p *Poller) storePages(ctx context.Context, key string, validity uint32, group []stage, bounds *checkpointBounds, st *PollStats) error {
	safe := uint32(0)
	n := 0
	prs := make([]*Prepared, 0, len(group))
	for _, s := range group {
		if u := bounds.take(s); u > 0 {
			safe = u
		}
		n += len(s.got)
		prs = append(prs, s.pr)
	}
	var checkpoint []func(tx *gorm.DB) error
	if safe > 0 {
		checkpoint = append(checkpoint, func(tx *gorm.DB) error {
			return store.SaveCheckpointTx(tx, key, validity, safe, p.now())
		})
	}
	if n > 0 {
		// The replies and the checkpoint past them commit together.
		out, err := p.Pipeline.Commit(ctx, mergePrepared(prs), checkpoint...)
		if err != nil {
			return err
		}
		st.add(out)
		if p.OnStored != nil {
			p.OnStored(out)
		}
	} else if safe > 0 {
		if err := store.SaveCheckpoint(ctx, p.DB, key, validity, safe, p.now()); err != nil {
			return err
		}
	}
	bounds.saved = max(bounds.saved, safe)
	if p.OnPage != nil {
		p.OnPage(*st)
	}
	if ferr := group[len(group)-1].err; ferr != nil {
		return fmt.Errorf("uid fetch: %w", ferr)
	}
	return nil
}

// fetchedPage is what a page's UID FETCH answered.
type fetchedPage struct {
	// msgs are the messages read completely, in UID order.
	msgs []fetched
	// bodiless are UIDs answered with no body at all. That is a response
	// go-imap gave this command from another one: servers send unsolicited
	// FETCH responses (a flag another client changed) carrying the UID,
	// and the client hands such a response to the pending command whose
	// UID set holds it, then drops the real answer as a repeat. With
	// commands sent ahead that is a later page's message; the checkpoint
	// must stay below it (safeUID, storePages) so the next poll reads it.
	bodiless []imap.UID
	// nilBody are UIDs whose body the server answered NIL: it cannot serve
	// them, now or later; they are skipped.
	nilBody []imap.UID
}

// readFetch reads a UID FETCH's answer (sendFetch), with the command's
// error.
func readFetch(cmd *imapclient.FetchCommand) (fetchedPage, error) {
	var pg fetchedPage
	sorted := func() fetchedPage {
		slices.SortFunc(pg.msgs, func(a, b fetched) int { return int(a.uid) - int(b.uid) })
		return pg
	}
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		var f fetched
		complete, body := false, false
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				f.uid = it.UID
			case imapclient.FetchItemDataInternalDate:
				f.received = it.Time
			case imapclient.FetchItemDataBodySection:
				body = true
				if it.Literal == nil {
					continue
				}
				b, err := readLiteral(it.Literal)
				var rest int64
				if err == nil && len(b) == MaxRawBytes {
					// Past the limit is attachment bytes: drain them. (Only
					// then: once the literal has answered EOF the client
					// reads the connection again, and so must we not.)
					rest, err = io.Copy(io.Discard, it.Literal)
				}
				// A connection cut inside a literal reads as a short
				// literal ending in a plain EOF: only the size tells.
				if err == nil && int64(len(b))+rest < it.Literal.Size() {
					err = fmt.Errorf("message cut after %d of %d bytes: %w", int64(len(b))+rest, it.Literal.Size(), io.ErrUnexpectedEOF)
				}
				if err != nil {
					// The connection broke inside the message. The client
					// resumes its reader once a literal fails, so reading
					// on (Next discards the rest of the literal) would
					// race with it: stop here; the caller closes the
					// client.
					return sorted(), fmt.Errorf("read message body: %w", err)
				}
				f.raw, complete = b, true
			}
		}
		switch {
		case f.uid == 0:
		case complete:
			pg.msgs = append(pg.msgs, f)
		case body:
			pg.nilBody = append(pg.nilBody, f.uid)
		default:
			pg.bodiless = append(pg.bodiless, f.uid)
		}
	}
	return sorted(), cmd.Close()
}

// readLiteral reads up to MaxRawBytes of a message body, sized from the
// literal's announced length so the buffer is allocated once.
func readLiteral(lit imap.LiteralReader) ([]byte, error) {
	size := min(lit.Size(), MaxRawBytes)
	b := make([]byte, size)
	n, err := io.ReadFull(lit, b)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		// Cut short: the caller compares the length with Size.
		err = nil
	}
	return b[:n], err
}

// ErrNotConfigured answers a poll when no IMAP server is configured.
var ErrNotConfigured = errors.New("reply polling is not configured: set IMAP_HOST")
