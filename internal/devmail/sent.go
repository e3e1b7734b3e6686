package devmail

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNotFound answers Get for an id that names no captured message
// (malformed ids included).
var ErrNotFound = errors.New("devmail: no such message")

// ErrBadCursor answers List for a cursor that is not a message id.
var ErrBadCursor = errors.New("devmail: invalid cursor")

// errClosed answers writes after Close.
var errClosed = errors.New("devmail: mailbox closed")

// SentMessage describes one captured message. From and To are the SMTP
// envelope (To includes Bcc recipients); MessageID is without angle
// brackets; Subject is decoded.
type SentMessage struct {
	ID         string    `json:"id"`
	MessageID  string    `json:"message_id"`
	From       string    `json:"from"`
	To         []string  `json:"to"`
	Subject    string    `json:"subject"`
	ReceivedAt time.Time `json:"received_at"`
	Size       int64     `json:"size"`
}

// Page is one page of List, newest first. Next is the cursor of the
// following page ("" on the last one).
type Page struct {
	Messages []SentMessage
	Next     string
}

// SentBox keeps captured messages on disk: <dir>/<id>.eml holds the bytes
// exactly as received after DATA, and <dir>/index.jsonl one line per
// message. The .eml files are the truth: at open, files missing from the
// index (a crash between the two writes) are indexed again and index lines
// without a file are dropped.
type SentBox struct {
	dir string
	log *slog.Logger

	mu      sync.Mutex
	msgs    []SentMessage // ascending id
	seqs    []uint64      // seqs[i] is msgs[i]'s id as a number
	next    uint64
	index   *os.File
	size    int64 // bytes of index known good; a failed append truncates back
	closed  bool
	changed chan struct{} // closed and replaced on every message
}

const sentIndex = "index.jsonl"

func sentFile(seq uint64) string { return fmt.Sprintf("%010d.eml", seq) }

func openSent(dir string, log *slog.Logger) (*SentBox, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sent mail directory: %w", err)
	}
	b := &SentBox{dir: dir, log: log, next: 1, changed: make(chan struct{})}
	indexed, dirty, err := b.readIndex()
	if err != nil {
		return nil, err
	}
	onDisk, err := b.scanFiles()
	if err != nil {
		return nil, err
	}
	for seq, info := range onDisk {
		if _, ok := indexed[seq]; ok {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, sentFile(seq))) //nolint:gosec // a numbered file in our data directory
		if err != nil {
			return nil, fmt.Errorf("read captured message %d: %w", seq, err)
		}
		m := describe(raw)
		m.ReceivedAt = info.ModTime().UTC()
		indexed[seq] = m
		dirty = true
		log.Warn("dev mailbox: captured message was missing from the index; indexed again", "id", seq)
	}
	for seq := range indexed {
		if _, ok := onDisk[seq]; !ok {
			delete(indexed, seq)
			dirty = true
			log.Warn("dev mailbox: index names a captured message whose file is gone; dropped", "id", seq)
		}
	}
	seqs := make([]uint64, 0, len(indexed))
	for seq := range indexed {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		m := indexed[seq]
		m.ID = strconv.FormatUint(seq, 10)
		m.Size = onDisk[seq].Size()
		b.msgs = append(b.msgs, m)
		b.seqs = append(b.seqs, seq)
		b.next = seq + 1
	}
	if dirty {
		if err := b.rewriteIndex(); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, sentIndex), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) //nolint:gosec // our data directory
	if err != nil {
		return nil, fmt.Errorf("open sent index: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("open sent index: %w", err)
	}
	b.index, b.size = f, st.Size()
	return b, nil
}

// readIndex answers the index entries by sequence number, and whether the
// index needs rewriting (a torn or unreadable line).
func (b *SentBox) readIndex() (map[uint64]SentMessage, bool, error) {
	out := map[uint64]SentMessage{}
	data, err := os.ReadFile(filepath.Join(b.dir, sentIndex))
	if errors.Is(err, fs.ErrNotExist) {
		return out, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read sent index: %w", err)
	}
	dirty := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		var m SentMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			b.log.Warn("dev mailbox: unreadable line in the sent index; rebuilt from the files", "line", n, "err", err)
			dirty = true
			continue
		}
		seq, err := strconv.ParseUint(m.ID, 10, 64)
		if err != nil || seq == 0 {
			dirty = true
			continue
		}
		out[seq] = m
	}
	if err := sc.Err(); err != nil {
		return nil, false, fmt.Errorf("read sent index: %w", err)
	}
	return out, dirty, nil
}

func (b *SentBox) scanFiles() (map[uint64]fs.FileInfo, error) {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, fmt.Errorf("list sent mail: %w", err)
	}
	out := map[uint64]fs.FileInfo{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			// A write that never completed: the message was not accepted.
			_ = os.Remove(filepath.Join(b.dir, name))
			continue
		}
		base, ok := strings.CutSuffix(name, ".eml")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		seq, err := strconv.ParseUint(base, 10, 64)
		if err != nil || seq == 0 {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("list sent mail: %w", err)
		}
		out[seq] = info
	}
	return out, nil
}

func (b *SentBox) rewriteIndex() error {
	var buf bytes.Buffer
	for _, m := range b.msgs {
		line, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("encode sent index: %w", err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return writeFileAtomic(filepath.Join(b.dir, sentIndex), buf.Bytes())
}

// add stores one message received over SMTP.
func (b *SentBox) add(from string, to []string, raw []byte, at time.Time) (SentMessage, error) {
	m := describe(raw)
	m.From, m.To = from, slices.Clone(to)
	m.ReceivedAt = at.UTC()
	m.Size = int64(len(raw))

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return SentMessage{}, errClosed
	}
	seq := b.next
	m.ID = strconv.FormatUint(seq, 10)
	path := filepath.Join(b.dir, sentFile(seq))
	if err := writeFileAtomic(path, raw); err != nil {
		return SentMessage{}, fmt.Errorf("store captured message: %w", err)
	}
	line, err := json.Marshal(m)
	if err != nil {
		_ = os.Remove(path)
		return SentMessage{}, fmt.Errorf("encode sent index: %w", err)
	}
	if err := appendLine(b.index, &b.size, line); err != nil {
		_ = os.Remove(path)
		return SentMessage{}, fmt.Errorf("append sent index: %w", err)
	}
	b.next++
	b.msgs = append(b.msgs, m)
	b.seqs = append(b.seqs, seq)
	close(b.changed)
	b.changed = make(chan struct{})
	return m, nil
}

func (b *SentBox) close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if err := b.index.Close(); err != nil {
		return fmt.Errorf("close sent index: %w", err)
	}
	return nil
}

// List answers up to limit messages (50 when limit <= 0), newest first,
// older than the message before names ("" starts at the newest).
func (b *SentBox) List(limit int, before string) (Page, error) {
	if limit <= 0 {
		limit = 50
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	end := len(b.seqs)
	if before != "" {
		seq, err := strconv.ParseUint(before, 10, 64)
		if err != nil {
			return Page{}, fmt.Errorf("%w: %q", ErrBadCursor, before)
		}
		end = sort.Search(len(b.seqs), func(i int) bool { return b.seqs[i] >= seq })
	}
	start := max(0, end-limit)
	page := Page{Messages: make([]SentMessage, 0, end-start)}
	for i := end - 1; i >= start; i-- {
		page.Messages = append(page.Messages, cloneSent(b.msgs[i]))
	}
	if start > 0 {
		page.Next = b.msgs[start].ID
	}
	return page, nil
}

// All answers every captured message, oldest first.
func (b *SentBox) All() []SentMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]SentMessage, len(b.msgs))
	for i, m := range b.msgs {
		out[i] = cloneSent(m)
	}
	return out
}

// ByMessageID answers the messages carrying id (brackets optional), oldest
// first: more than one means the same message was sent twice.
func (b *SentBox) ByMessageID(id string) []SentMessage {
	id = trimBrackets(id)
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []SentMessage
	for _, m := range b.msgs {
		if m.MessageID == id {
			out = append(out, cloneSent(m))
		}
	}
	return out
}

// Get answers a message's description and its raw bytes.
func (b *SentBox) Get(ctx context.Context, id string) (SentMessage, []byte, error) {
	if err := ctx.Err(); err != nil {
		return SentMessage{}, nil, err
	}
	seq, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return SentMessage{}, nil, ErrNotFound
	}
	b.mu.Lock()
	i, ok := slices.BinarySearch(b.seqs, seq)
	var m SentMessage
	if ok {
		m = cloneSent(b.msgs[i])
	}
	b.mu.Unlock()
	if !ok {
		return SentMessage{}, nil, ErrNotFound
	}
	raw, err := os.ReadFile(filepath.Join(b.dir, sentFile(seq)))
	if err != nil {
		return SentMessage{}, nil, fmt.Errorf("read captured message %s: %w", id, err)
	}
	return m, raw, nil
}

// Count is the number of captured messages.
func (b *SentBox) Count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs)
}

// WaitForCount waits until at least n messages were captured, or ctx ends.
func (b *SentBox) WaitForCount(ctx context.Context, n int) error {
	for {
		b.mu.Lock()
		got, ch := len(b.msgs), b.changed
		b.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devmail: %d of %d messages captured: %w", got, n, ctx.Err())
		case <-ch:
		}
	}
}

func cloneSent(m SentMessage) SentMessage {
	m.To = slices.Clone(m.To)
	return m
}

// describe reads what the index keeps from a message's header. A message
// that does not parse is still captured (a capture server shows what was
// sent, broken or not), with empty fields.
func describe(raw []byte) SentMessage {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return SentMessage{}
	}
	dec := mime.WordDecoder{}
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		subject = msg.Header.Get("Subject")
	}
	return SentMessage{MessageID: trimBrackets(msg.Header.Get("Message-Id")), Subject: subject}
}

func trimBrackets(s string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "<"), ">")
}

// writeFileAtomic writes data to path through a temporary file, so a crash
// leaves either the old content or the new, never a torn file.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600) //nolint:gosec // paths under our data directory
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", filepath.Base(path), werr)
	}
	return nil
}

// appendLine appends line and a newline to an append-only log and syncs
// it. On failure the log is cut back to its last complete line, so the
// next record does not land after a torn one.
func appendLine(f *os.File, size *int64, line []byte) error {
	buf := make([]byte, 0, len(line)+1)
	buf = append(append(buf, line...), '\n')
	_, err := f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		_ = f.Truncate(*size)
		return err
	}
	*size += int64(len(buf))
	return nil
}
