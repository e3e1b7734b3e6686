package devmail

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// mailboxDelim separates levels of mailbox names.
const mailboxDelim = '/'

const journalName = "journal.jsonl"

// imapStore holds the IMAP mailboxes. Message bytes live in
// <dir>/<uidvalidity>/<uid>.eml; everything else (mailboxes, UIDNEXT,
// flags, internal dates) is in memory and in <dir>/journal.jsonl, an
// append-only log replayed and compacted at open. A message file is written
// before its journal line, and an APPEND is acknowledged only after both,
// so a crash loses at most an unacknowledged message, and UIDs handed out
// are never handed out again.
type imapStore struct {
	dir string
	log *slog.Logger

	mu           sync.Mutex
	boxes        map[string]*imapBox // by name
	byValidity   map[uint32]*imapBox
	lastValidity uint32
	journal      *os.File
	size         int64
	closed       bool
}

type imapBox struct {
	name       string
	validity   uint32
	uidNext    imap.UID
	subscribed bool
	msgs       []*imapMsg // ascending UID; index+1 is the sequence number
	tracker    *imapserver.MailboxTracker
	deleted    bool
}

type imapMsg struct {
	uid   imap.UID
	date  time.Time
	size  int64
	flags []imap.Flag // canonical, sorted
}

// jrec is one journal line.
type jrec struct {
	Op          string    `json:"op"`
	Name        string    `json:"name,omitempty"`
	UIDValidity uint32    `json:"uidvalidity,omitempty"`
	UIDNext     uint32    `json:"uidnext,omitempty"`
	Subscribed  bool      `json:"subscribed,omitempty"`
	UID         uint32    `json:"uid,omitempty"`
	UIDs        []uint32  `json:"uids,omitempty"`
	Date        time.Time `json:"date,omitzero"`
	Size        int64     `json:"size,omitempty"`
	Flags       []string  `json:"flags,omitempty"`
	Last        uint32    `json:"last,omitempty"`
}

// Journal operations.
const (
	opState     = "state"     // Last: the highest UIDVALIDITY ever given
	opBox       = "box"       // a mailbox: Name, UIDValidity, UIDNext, Subscribed
	opDelete    = "delete"    // UIDValidity
	opRename    = "rename"    // UIDValidity, Name
	opSubscribe = "subscribe" // UIDValidity, Subscribed
	opAppend    = "append"    // UIDValidity, UID, Date, Size, Flags
	opFlags     = "flags"     // UIDValidity, UID, Flags (the full set)
	opExpunge   = "expunge"   // UIDValidity, UIDs
)

func openIMAPStore(dir string, log *slog.Logger) (*imapStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("imap directory: %w", err)
	}
	s := &imapStore{dir: dir, log: log, boxes: map[string]*imapBox{}, byValidity: map[uint32]*imapBox{}}
	if err := s.replay(); err != nil {
		return nil, err
	}
	if err := s.checkFiles(); err != nil {
		return nil, err
	}
	if s.boxes["INBOX"] == nil {
		s.addBox("INBOX", s.newValidity(), 1, true)
	}
	for _, b := range s.boxes {
		b.tracker = imapserver.NewMailboxTracker(num(len(b.msgs)))
	}
	if err := s.compact(); err != nil {
		return nil, err
	}
	s.sweep()
	f, err := os.OpenFile(filepath.Join(dir, journalName), os.O_WRONLY|os.O_APPEND, 0o600) //nolint:gosec // our data directory
	if err != nil {
		return nil, fmt.Errorf("open imap journal: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("open imap journal: %w", err)
	}
	s.journal, s.size = f, st.Size()
	return s, nil
}

func (s *imapStore) replay() error {
	data, err := os.ReadFile(filepath.Join(s.dir, journalName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read imap journal: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		var r jrec
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			// Only a crash in the middle of a line can do this, and that
			// line was never acknowledged.
			s.log.Warn("dev mailbox: unreadable line in the IMAP journal; skipped", "line", n, "err", err)
			continue
		}
		s.apply(r)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read imap journal: %w", err)
	}
	return nil
}

func (s *imapStore) apply(r jrec) {
	s.lastValidity = max(s.lastValidity, r.UIDValidity, r.Last)
	if r.Op == opBox {
		if old := s.boxes[r.Name]; old != nil {
			s.removeBox(old)
		}
		s.addBox(r.Name, r.UIDValidity, imap.UID(max(r.UIDNext, 1)), r.Subscribed)
		return
	}
	b := s.byValidity[r.UIDValidity]
	if b == nil {
		return
	}
	switch r.Op {
	case opDelete:
		s.removeBox(b)
	case opRename:
		delete(s.boxes, b.name)
		b.name = r.Name
		s.boxes[b.name] = b
	case opSubscribe:
		b.subscribed = r.Subscribed
	case opAppend:
		uid := imap.UID(r.UID)
		if n := len(b.msgs); uid == 0 || n > 0 && uid <= b.msgs[n-1].uid {
			return // UIDs only grow; a repeat is a journal fault
		}
		b.msgs = append(b.msgs, &imapMsg{uid: uid, date: r.Date, size: r.Size, flags: canonFlags(toFlags(r.Flags))})
		// A compacted journal gives UIDNEXT in the box line, above the
		// messages that follow it.
		b.uidNext = max(b.uidNext, uid+1)
	case opFlags:
		if i, ok := b.find(imap.UID(r.UID)); ok {
			b.msgs[i].flags = canonFlags(toFlags(r.Flags))
		}
	case opExpunge:
		gone := map[imap.UID]bool{}
		for _, u := range r.UIDs {
			gone[imap.UID(u)] = true
		}
		b.msgs = slices.DeleteFunc(b.msgs, func(m *imapMsg) bool { return gone[m.uid] })
	}
}

// checkFiles drops messages whose file is gone and takes sizes from the
// files, which are what FETCH serves.
func (s *imapStore) checkFiles() error {
	for _, b := range s.boxes {
		kept := b.msgs[:0]
		for _, m := range b.msgs {
			st, err := os.Stat(s.msgPath(b, m.uid))
			if errors.Is(err, fs.ErrNotExist) {
				s.log.Warn("dev mailbox: IMAP message file is gone; dropped", "mailbox", b.name, "uid", m.uid)
				continue
			}
			if err != nil {
				return fmt.Errorf("imap message %s/%d: %w", b.name, m.uid, err)
			}
			m.size = st.Size()
			kept = append(kept, m)
		}
		b.msgs = kept
	}
	return nil
}

// compact rewrites the journal as the current state.
func (s *imapStore) compact() error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(jrec{Op: opState, Last: s.lastValidity}); err != nil {
		return fmt.Errorf("encode imap journal: %w", err)
	}
	for _, b := range s.sortedBoxes() {
		if err := enc.Encode(jrec{Op: opBox, Name: b.name, UIDValidity: b.validity, UIDNext: uint32(b.uidNext), Subscribed: b.subscribed}); err != nil {
			return fmt.Errorf("encode imap journal: %w", err)
		}
		for _, m := range b.msgs {
			if err := enc.Encode(appendRec(b, m)); err != nil {
				return fmt.Errorf("encode imap journal: %w", err)
			}
		}
	}
	return writeFileAtomic(filepath.Join(s.dir, journalName), buf.Bytes())
}

// sweep removes files no message refers to: mailboxes deleted and messages
// expunged before a crash, APPENDs that never reached the journal.
func (s *imapStore) sweep() {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() {
			if strings.HasSuffix(e.Name(), ".tmp") {
				_ = os.Remove(filepath.Join(s.dir, e.Name()))
			}
			continue
		}
		v, err := strconv.ParseUint(e.Name(), 10, 32)
		b := s.byValidity[uint32(v)]
		if err != nil || b == nil {
			_ = os.RemoveAll(filepath.Join(s.dir, e.Name()))
			continue
		}
		files, err := os.ReadDir(filepath.Join(s.dir, e.Name()))
		if err != nil {
			continue
		}
		for _, f := range files {
			base, _ := strings.CutSuffix(f.Name(), ".eml")
			uid, err := strconv.ParseUint(base, 10, 32)
			if _, ok := b.find(imap.UID(uid)); err != nil || !ok {
				_ = os.Remove(filepath.Join(s.dir, e.Name(), f.Name()))
			}
		}
	}
}

func (s *imapStore) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.journal.Close(); err != nil {
		return fmt.Errorf("close imap journal: %w", err)
	}
	return nil
}

func (s *imapStore) sortedBoxes() []*imapBox {
	out := make([]*imapBox, 0, len(s.boxes))
	for _, b := range s.boxes {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b *imapBox) int { return strings.Compare(a.name, b.name) })
	return out
}

func (s *imapStore) addBox(name string, validity uint32, uidNext imap.UID, subscribed bool) *imapBox {
	b := &imapBox{name: name, validity: validity, uidNext: uidNext, subscribed: subscribed}
	s.boxes[name] = b
	s.byValidity[validity] = b
	return b
}

func (s *imapStore) removeBox(b *imapBox) {
	b.deleted = true
	delete(s.boxes, b.name)
	delete(s.byValidity, b.validity)
}

// newValidity gives a UIDVALIDITY never given before by this store, and
// from the clock when possible, so that a mailbox re-created after the
// data directory was wiped does not repeat an old value: a client holding
// a UID checkpoint would otherwise skip the new messages.
func (s *imapStore) newValidity() uint32 {
	v := max(s.lastValidity+1, uint32(time.Now().Unix())) //nolint:gosec // seconds fit in uint32 until 2106
	s.lastValidity = v
	return v
}

func (s *imapStore) msgPath(b *imapBox, uid imap.UID) string {
	return filepath.Join(s.dir, strconv.FormatUint(uint64(b.validity), 10), strconv.FormatUint(uint64(uid), 10)+".eml")
}

func (b *imapBox) find(uid imap.UID) (int, bool) {
	return slices.BinarySearchFunc(b.msgs, uid, func(m *imapMsg, u imap.UID) int {
		switch {
		case m.uid < u:
			return -1
		case m.uid > u:
			return 1
		}
		return 0
	})
}

// write appends records to the journal. Callers hold s.mu.
func (s *imapStore) write(recs ...jrec) error {
	if s.closed {
		return errClosed
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("encode imap journal: %w", err)
		}
	}
	line := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if err := appendLine(s.journal, &s.size, line); err != nil {
		return fmt.Errorf("write imap journal: %w", err)
	}
	return nil
}

func appendRec(b *imapBox, m *imapMsg) jrec {
	return jrec{Op: opAppend, UIDValidity: b.validity, UID: uint32(m.uid), Date: m.date, Size: m.size, Flags: fromFlags(m.flags)}
}

// Errors answered to IMAP clients.
var (
	errNoMailbox = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such mailbox"}
	errTryCreate = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}
	errExists    = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAlreadyExists, Text: "Mailbox already exists"}
	errDeleted   = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "The selected mailbox was deleted"}
	errInbox     = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "INBOX cannot be deleted or renamed here"}
	errBadName   = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Invalid mailbox name"}
	errReadOnly  = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "The mailbox is open read-only (EXAMINE)"}
)

// storageError is answered when the disk fails; the cause goes to the log.
func (s *imapStore) storageError(op string, err error) error {
	s.log.Error("dev mailbox: IMAP storage failure", "op", op, "err", err)
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "Storage failure"}
}

// normName makes INBOX case-insensitive (RFC 9051 §5.1) and drops a
// trailing delimiter.
func normName(name string) string {
	name = strings.TrimRight(name, string(mailboxDelim))
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	return name
}

func (s *imapStore) box(name string) (*imapBox, error) {
	b := s.boxes[normName(name)]
	if b == nil {
		return nil, errNoMailbox
	}
	return b, nil
}

func (s *imapStore) create(name string) error {
	name = normName(name)
	if name == "" || strings.ContainsAny(name, "\r\n") {
		return errBadName
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.boxes[name] != nil {
		return errExists
	}
	v := s.newValidity()
	if err := s.write(jrec{Op: opBox, Name: name, UIDValidity: v, UIDNext: 1}); err != nil {
		return s.storageError("create", err)
	}
	b := s.addBox(name, v, 1, false)
	b.tracker = imapserver.NewMailboxTracker(0)
	return nil
}

func (s *imapStore) delete(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.box(name)
	if err != nil {
		return err
	}
	if b.name == "INBOX" {
		return errInbox
	}
	if err := s.write(jrec{Op: opDelete, UIDValidity: b.validity}); err != nil {
		return s.storageError("delete", err)
	}
	s.removeBox(b)
	_ = os.RemoveAll(filepath.Join(s.dir, strconv.FormatUint(uint64(b.validity), 10)))
	return nil
}

func (s *imapStore) rename(from, to string) error {
	to = normName(to)
	if to == "" || strings.ContainsAny(to, "\r\n") {
		return errBadName
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.box(from)
	if err != nil {
		return err
	}
	if b.name == "INBOX" {
		return errInbox
	}
	if s.boxes[to] != nil {
		return errExists
	}
	if err := s.write(jrec{Op: opRename, UIDValidity: b.validity, Name: to}); err != nil {
		return s.storageError("rename", err)
	}
	delete(s.boxes, b.name)
	b.name = to
	s.boxes[to] = b
	return nil
}

func (s *imapStore) subscribe(name string, on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.box(name)
	if err != nil {
		return err
	}
	if err := s.write(jrec{Op: opSubscribe, UIDValidity: b.validity, Subscribed: on}); err != nil {
		return s.storageError("subscribe", err)
	}
	b.subscribed = on
	return nil
}

// appendMsg is APPEND: the one way a message enters a mailbox (Inject
// uses it too).
func (s *imapStore) appendMsg(name string, raw []byte, flags []imap.Flag, date time.Time) (*imap.AppendData, error) {
	if date.IsZero() {
		date = time.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	b := s.boxes[normName(name)]
	if b == nil {
		return nil, errTryCreate
	}
	m, err := s.appendLocked(b, raw, canonFlags(flags), date)
	if err != nil {
		return nil, s.storageError("append", err)
	}
	return &imap.AppendData{UIDValidity: b.validity, UID: m.uid}, nil
}

func (s *imapStore) appendLocked(b *imapBox, raw []byte, flags []imap.Flag, date time.Time) (*imapMsg, error) {
	m := &imapMsg{uid: b.uidNext, date: date, size: int64(len(raw)), flags: flags}
	path := s.msgPath(b, m.uid)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("mailbox directory: %w", err)
	}
	if err := writeFileAtomic(path, raw); err != nil {
		return nil, err
	}
	if err := s.write(appendRec(b, m)); err != nil {
		_ = os.Remove(path)
		return nil, err
	}
	b.uidNext++
	b.msgs = append(b.msgs, m)
	b.tracker.QueueNumMessages(num(len(b.msgs)))
	return m, nil
}

func (s *imapStore) status(name string, o *imap.StatusOptions) (*imap.StatusData, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.box(name)
	if err != nil {
		return nil, err
	}
	return b.status(o), nil
}

func (b *imapBox) status(o *imap.StatusOptions) *imap.StatusData {
	d := &imap.StatusData{Mailbox: b.name}
	count := func(f imap.Flag) uint32 {
		n := uint32(0)
		for _, m := range b.msgs {
			if hasFlag(m.flags, f) {
				n++
			}
		}
		return n
	}
	if o.NumMessages {
		n := num(len(b.msgs))
		d.NumMessages = &n
	}
	if o.UIDNext {
		d.UIDNext = b.uidNext
	}
	if o.UIDValidity {
		d.UIDValidity = b.validity
	}
	if o.NumUnseen {
		n := num(len(b.msgs)) - count(imap.FlagSeen)
		d.NumUnseen = &n
	}
	if o.NumDeleted {
		n := count(imap.FlagDeleted)
		d.NumDeleted = &n
	}
	if o.Size {
		var size int64
		for _, m := range b.msgs {
			size += m.size
		}
		d.Size = &size
	}
	if o.NumRecent {
		n := uint32(0)
		d.NumRecent = &n
	}
	return d
}

func (s *imapStore) list(ref string, patterns []string, o *imap.ListOptions) []imap.ListData {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []imap.ListData
	for _, b := range s.sortedBoxes() {
		match := false
		for _, p := range patterns {
			if imapserver.MatchList(b.name, mailboxDelim, ref, p) {
				match = true
				break
			}
		}
		if !match || (o.SelectSubscribed && !b.subscribed) || o.SelectSpecialUse {
			continue
		}
		d := imap.ListData{Mailbox: b.name, Delim: mailboxDelim}
		if b.subscribed {
			d.Attrs = append(d.Attrs, imap.MailboxAttrSubscribed)
		}
		if o.ReturnStatus != nil {
			d.Status = b.status(o.ReturnStatus)
		}
		out = append(out, d)
	}
	return out
}

// canonical system flags; keywords keep their spelling but compare
// case-insensitively, as IMAP wants.
var systemFlags = map[string]imap.Flag{
	`\seen`: imap.FlagSeen, `\answered`: imap.FlagAnswered, `\flagged`: imap.FlagFlagged,
	`\deleted`: imap.FlagDeleted, `\draft`: imap.FlagDraft,
}

func canonFlags(in []imap.Flag) []imap.Flag {
	seen := map[string]bool{}
	var out []imap.Flag
	for _, f := range in {
		low := strings.ToLower(string(f))
		if low == `\recent` || low == "" || seen[low] {
			continue
		}
		seen[low] = true
		if sf, ok := systemFlags[low]; ok {
			f = sf
		}
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	return slices.ContainsFunc(flags, func(g imap.Flag) bool { return strings.EqualFold(string(g), string(f)) })
}

func toFlags(in []string) []imap.Flag {
	out := make([]imap.Flag, len(in))
	for i, f := range in {
		out[i] = imap.Flag(f)
	}
	return out
}

func fromFlags(in []imap.Flag) []string {
	out := make([]string, len(in))
	for i, f := range in {
		out[i] = string(f)
	}
	return out
}

// seqOf is the sequence number of the message at index i of a mailbox.
func seqOf(i int) uint32 { return num(i) + 1 }

// num converts a count of messages; a mailbox here holds far fewer than
// 2^32 of them.
func num(n int) uint32 { return uint32(n) } //nolint:gosec // see above
