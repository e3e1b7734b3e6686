package devmail

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"
)

// appendLimit bounds one APPEND; the literal is held in memory.
const appendLimit = 50 << 20

// imapSession is one IMAP connection.
type imapSession struct {
	store *imapStore
	login func(user, pass string) error
	view  *imapView // the selected mailbox, nil when none
}

// imapView is a session's view of its selected mailbox: its own sequence
// numbers (through the tracker) and its saved search.
type imapView struct {
	box       *imapBox
	tracker   *imapserver.SessionTracker
	readOnly  bool
	searchRes imap.UIDSet
}

var (
	_ imapserver.SessionIMAP4rev2   = (*imapSession)(nil)
	_ imapserver.SessionAppendLimit = (*imapSession)(nil)
)

func (s *imapSession) Close() error {
	if s.view != nil {
		s.view.tracker.Close()
		s.view = nil
	}
	return nil
}

func (s *imapSession) Login(username, password string) error {
	return s.login(username, password)
}

func (s *imapSession) AppendLimit() uint32 { return appendLimit }

func (s *imapSession) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Delim: mailboxDelim}}}, nil
}

func (s *imapSession) Select(name string, o *imap.SelectOptions) (*imap.SelectData, error) {
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	b, err := st.box(name)
	if err != nil {
		return nil, err
	}
	if s.view != nil {
		s.view.tracker.Close()
	}
	// The tracker is registered under the store lock, so no message can
	// arrive between the count answered here and the updates it queues.
	s.view = &imapView{box: b, tracker: b.tracker.NewSession(), readOnly: o.ReadOnly}
	flags := []imap.Flag{imap.FlagAnswered, imap.FlagDeleted, imap.FlagDraft, imap.FlagFlagged, imap.FlagSeen}
	firstUnseen := uint32(0)
	for i, m := range b.msgs {
		for _, f := range m.flags {
			if !hasFlag(flags, f) {
				flags = append(flags, f)
			}
		}
		if firstUnseen == 0 && !hasFlag(m.flags, imap.FlagSeen) {
			firstUnseen = seqOf(i)
		}
	}
	perm := []imap.Flag{}
	if !o.ReadOnly {
		perm = append(slices.Clone(flags), imap.FlagWildcard)
	}
	return &imap.SelectData{
		Flags: flags, PermanentFlags: perm, NumMessages: num(len(b.msgs)),
		FirstUnseenSeqNum: firstUnseen, UIDNext: b.uidNext, UIDValidity: b.validity,
	}, nil
}

func (s *imapSession) Unselect() error {
	if s.view != nil {
		s.view.tracker.Close()
		s.view = nil
	}
	return nil
}

func (s *imapSession) Create(name string, _ *imap.CreateOptions) error {
	return s.store.create(name)
}

func (s *imapSession) Delete(name string) error { return s.store.delete(name) }

func (s *imapSession) Rename(from, to string, _ *imap.RenameOptions) error {
	return s.store.rename(from, to)
}

func (s *imapSession) Subscribe(name string) error { return s.store.subscribe(name, true) }

func (s *imapSession) Unsubscribe(name string) error { return s.store.subscribe(name, false) }

func (s *imapSession) List(w *imapserver.ListWriter, ref string, patterns []string, o *imap.ListOptions) error {
	if len(patterns) == 0 {
		// LIST "" "": the hierarchy delimiter.
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: mailboxDelim})
	}
	for _, d := range s.store.list(ref, patterns, o) {
		if err := w.WriteList(&d); err != nil {
			return err
		}
	}
	return nil
}

func (s *imapSession) Status(name string, o *imap.StatusOptions) (*imap.StatusData, error) {
	return s.store.status(name, o)
}

func (s *imapSession) Append(name string, r imap.LiteralReader, o *imap.AppendOptions) (*imap.AppendData, error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return s.store.appendMsg(name, buf.Bytes(), o.Flags, o.Time)
}

func (s *imapSession) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.view == nil {
		return nil
	}
	return s.view.tracker.Poll(w, allowExpunge)
}

func (s *imapSession) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if s.view == nil {
		<-stop
		return nil
	}
	return s.view.tracker.Idle(w, stop)
}

// fetchItem is a message's state captured under the lock; the file is read
// and the response written after it is released, so a slow client does not
// hold up the mailbox.
type fetchItem struct {
	seq   uint32
	uid   imap.UID
	date  time.Time
	size  int64
	flags []imap.Flag
	path  string
}

func (s *imapSession) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, o *imap.FetchOptions) error {
	markSeen := false
	if !s.view.readOnly {
		for _, bs := range o.BodySection {
			markSeen = markSeen || !bs.Peek
		}
		for _, bs := range o.BinarySection {
			markSeen = markSeen || !bs.Peek
		}
	}
	items, err := s.store.prepareFetch(s.view, numSet, markSeen)
	if err != nil {
		return err
	}
	needRaw := o.Envelope || o.BodyStructure != nil || len(o.BodySection) > 0 || len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0
	for _, it := range items {
		var raw []byte
		if needRaw {
			raw, err = os.ReadFile(it.path)
			if errors.Is(err, fs.ErrNotExist) {
				continue // expunged meanwhile; the client hears of it next
			}
			if err != nil {
				return s.store.storageError("fetch", err)
			}
		}
		if err := writeFetch(w.CreateMessage(it.seq), it, raw, o); err != nil {
			return err
		}
	}
	return nil
}

func writeFetch(rw *imapserver.FetchResponseWriter, it fetchItem, raw []byte, o *imap.FetchOptions) error {
	rw.WriteUID(it.uid)
	if o.Flags {
		rw.WriteFlags(it.flags)
	}
	if o.InternalDate {
		rw.WriteInternalDate(it.date)
	}
	if o.RFC822Size {
		rw.WriteRFC822Size(it.size)
	}
	if o.Envelope {
		if h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw))); err == nil {
			rw.WriteEnvelope(imapserver.ExtractEnvelope(h))
		} else {
			rw.WriteEnvelope(&imap.Envelope{})
		}
	}
	if o.BodyStructure != nil {
		rw.WriteBodyStructure(imapserver.ExtractBodyStructure(bytes.NewReader(raw)))
	}
	for _, bs := range o.BodySection {
		buf := imapserver.ExtractBodySection(bytes.NewReader(raw), bs)
		if err := writeLiteral(rw.WriteBodySection(bs, int64(len(buf))), buf); err != nil {
			return err
		}
	}
	for _, bs := range o.BinarySection {
		buf := imapserver.ExtractBinarySection(bytes.NewReader(raw), bs)
		if err := writeLiteral(rw.WriteBinarySection(bs, int64(len(buf))), buf); err != nil {
			return err
		}
	}
	for _, bss := range o.BinarySectionSize {
		rw.WriteBinarySectionSize(bss, imapserver.ExtractBinarySectionSize(bytes.NewReader(raw), bss))
	}
	return rw.Close()
}

func writeLiteral(wc interface {
	Write([]byte) (int, error)
	Close() error
}, buf []byte,
) error {
	_, werr := wc.Write(buf)
	cerr := wc.Close()
	if werr != nil {
		return werr
	}
	return cerr
}

func (st *imapStore) prepareFetch(v *imapView, numSet imap.NumSet, markSeen bool) ([]fetchItem, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if v.box.deleted {
		return nil, errDeleted
	}
	var recs []jrec
	var seen []int
	idx := v.indexes(numSet)
	if markSeen {
		for _, i := range idx {
			if m := v.box.msgs[i]; !hasFlag(m.flags, imap.FlagSeen) {
				recs = append(recs, jrec{Op: opFlags, UIDValidity: v.box.validity, UID: uint32(m.uid), Flags: fromFlags(canonFlags(append(slices.Clone(m.flags), imap.FlagSeen)))})
				seen = append(seen, i)
			}
		}
		if len(recs) > 0 {
			if err := st.write(recs...); err != nil {
				return nil, st.storageError("fetch", err)
			}
			for k, i := range seen {
				m := v.box.msgs[i]
				m.flags = toFlags(recs[k].Flags)
				v.box.tracker.QueueMessageFlags(seqOf(i), m.uid, slices.Clone(m.flags), nil)
			}
		}
	}
	out := make([]fetchItem, 0, len(idx))
	for _, i := range idx {
		m := v.box.msgs[i]
		out = append(out, fetchItem{
			seq: v.tracker.EncodeSeqNum(seqOf(i)), uid: m.uid, date: m.date, size: m.size,
			flags: slices.Clone(m.flags), path: st.msgPath(v.box, m.uid),
		})
	}
	return out, nil
}

func (s *imapSession) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) error {
	if s.view.readOnly {
		return errReadOnly
	}
	items, err := s.store.storeFlags(s.view, numSet, flags)
	if err != nil || flags.Silent {
		return err
	}
	for _, it := range items {
		rw := w.CreateMessage(it.seq)
		rw.WriteUID(it.uid)
		rw.WriteFlags(it.flags)
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

func (st *imapStore) storeFlags(v *imapView, numSet imap.NumSet, sf *imap.StoreFlags) ([]fetchItem, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if v.box.deleted {
		return nil, errDeleted
	}
	idx := v.indexes(numSet)
	next := make([][]imap.Flag, len(idx))
	var recs []jrec
	for k, i := range idx {
		m := v.box.msgs[i]
		var fl []imap.Flag
		switch sf.Op {
		case imap.StoreFlagsSet:
			fl = canonFlags(sf.Flags)
		case imap.StoreFlagsAdd:
			fl = canonFlags(append(slices.Clone(m.flags), sf.Flags...))
		case imap.StoreFlagsDel:
			fl = slices.DeleteFunc(slices.Clone(m.flags), func(f imap.Flag) bool { return hasFlag(sf.Flags, f) })
		}
		next[k] = fl
		if !slices.Equal(fl, m.flags) {
			recs = append(recs, jrec{Op: opFlags, UIDValidity: v.box.validity, UID: uint32(m.uid), Flags: fromFlags(fl)})
		}
	}
	if len(recs) > 0 {
		if err := st.write(recs...); err != nil {
			return nil, st.storageError("store", err)
		}
	}
	out := make([]fetchItem, 0, len(idx))
	for k, i := range idx {
		m := v.box.msgs[i]
		if !slices.Equal(next[k], m.flags) {
			m.flags = next[k]
			v.box.tracker.QueueMessageFlags(seqOf(i), m.uid, slices.Clone(m.flags), v.tracker)
		}
		out = append(out, fetchItem{seq: v.tracker.EncodeSeqNum(seqOf(i)), uid: m.uid, flags: slices.Clone(m.flags)})
	}
	return out, nil
}

// Expunge removes the messages marked \Deleted (within uids when given).
// On a mailbox opened with EXAMINE it does nothing: that also keeps CLOSE
// after EXAMINE from deleting, as RFC 9051 requires.
func (s *imapSession) Expunge(_ *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	if s.view.readOnly {
		return nil
	}
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	if s.view.box.deleted {
		return errDeleted
	}
	var gone []int
	for i, m := range s.view.box.msgs {
		if hasFlag(m.flags, imap.FlagDeleted) && (uids == nil || uids.Contains(m.uid)) {
			gone = append(gone, i)
		}
	}
	// The updates reach this session through Poll after the command.
	return st.expungeLocked(s.view.box, gone)
}

// expungeLocked removes the messages at the indexes idx (ascending).
func (st *imapStore) expungeLocked(b *imapBox, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	uids := make([]uint32, len(idx))
	for k, i := range idx {
		uids[k] = uint32(b.msgs[i].uid)
	}
	if err := st.write(jrec{Op: opExpunge, UIDValidity: b.validity, UIDs: uids}); err != nil {
		return st.storageError("expunge", err)
	}
	// From the highest down, so each sequence number queued is still
	// valid when the one before it is applied.
	for k := len(idx) - 1; k >= 0; k-- {
		i := idx[k]
		_ = os.Remove(st.msgPath(b, b.msgs[i].uid))
		b.msgs = slices.Delete(b.msgs, i, i+1)
		b.tracker.QueueExpunge(seqOf(i))
	}
	return nil
}

func (s *imapSession) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	data, _, err := st.copyLocked(s.view, numSet, dest)
	return data, err
}

func (s *imapSession) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if s.view.readOnly {
		return errReadOnly
	}
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	if b := st.boxes[normName(dest)]; b == s.view.box {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Source and destination mailboxes are identical"}
	}
	data, idx, err := st.copyLocked(s.view, numSet, dest)
	if err != nil {
		return err
	}
	if err := w.WriteCopyData(data); err != nil {
		return err
	}
	// EXPUNGE responses follow through Poll, after the COPYUID above.
	return st.expungeLocked(s.view.box, idx)
}

func (st *imapStore) copyLocked(v *imapView, numSet imap.NumSet, dest string) (*imap.CopyData, []int, error) {
	if v.box.deleted {
		return nil, nil, errDeleted
	}
	to := st.boxes[normName(dest)]
	if to == nil {
		return nil, nil, errTryCreate
	}
	idx := v.indexes(numSet)
	data := &imap.CopyData{UIDValidity: to.validity}
	for _, i := range idx {
		m := v.box.msgs[i]
		raw, err := os.ReadFile(st.msgPath(v.box, m.uid))
		if err != nil {
			return nil, nil, st.storageError("copy", err)
		}
		c, err := st.appendLocked(to, raw, slices.Clone(m.flags), m.date)
		if err != nil {
			return nil, nil, st.storageError("copy", err)
		}
		data.SourceUIDs.AddNum(m.uid)
		data.DestUIDs.AddNum(c.uid)
	}
	return data, idx, nil
}

func (s *imapSession) Search(kind imapserver.NumKind, c *imap.SearchCriteria, o *imap.SearchOptions) (*imap.SearchData, error) {
	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	v := s.view
	if v.box.deleted {
		return nil, errDeleted
	}
	v.staticCriteria(c)
	var (
		data   imap.SearchData
		seqSet imap.SeqSet
		uidSet imap.UIDSet
	)
	for i, m := range v.box.msgs {
		seq := v.tracker.EncodeSeqNum(seqOf(i))
		if seq == 0 {
			// Not announced to this client yet (no EXISTS): a UID it cannot
			// FETCH must not be answered either, or a poller would move its
			// checkpoint past it.
			continue
		}
		if !matchMsg(m, seq, c, &lazyRaw{path: st.msgPath(v.box, m.uid)}) {
			continue
		}
		uidSet.AddNum(m.uid)
		num := uint32(m.uid)
		if kind == imapserver.NumKindSeq {
			seqSet.AddNum(seq)
			num = seq
		}
		if data.Min == 0 || num < data.Min {
			data.Min = num
		}
		data.Max = max(data.Max, num)
		data.Count++
	}
	if kind == imapserver.NumKindSeq {
		data.All = seqSet
	} else {
		data.All = uidSet
	}
	if o.ReturnSave {
		v.searchRes = uidSet
	}
	return &data, nil
}

// indexes answers the positions in the mailbox of the messages numSet
// names, ascending. Messages not yet announced to this client (no EXISTS
// yet) are left out, by UID too: a response cannot carry their sequence
// number. Callers hold the store lock.
func (v *imapView) indexes(numSet imap.NumSet) []int {
	numSet = v.static(numSet)
	var out []int
	for i, m := range v.box.msgs {
		seq := v.tracker.EncodeSeqNum(seqOf(i))
		if seq == 0 {
			continue
		}
		switch set := numSet.(type) {
		case imap.SeqSet:
			if set.Contains(seq) {
				out = append(out, i)
			}
		case imap.UIDSet:
			if set.Contains(m.uid) {
				out = append(out, i)
			}
		}
	}
	return out
}

// static resolves "*" (the last message) and "$" (the saved search) in a
// copy of numSet.
func (v *imapView) static(numSet imap.NumSet) imap.NumSet {
	if imap.IsSearchRes(numSet) {
		return slices.Clone(v.searchRes)
	}
	switch set := numSet.(type) {
	case imap.SeqSet:
		set = slices.Clone(set)
		last := num(len(v.box.msgs))
		for i := range set {
			staticRange(&set[i].Start, &set[i].Stop, last)
		}
		return set
	case imap.UIDSet:
		set = slices.Clone(set)
		last := uint32(0)
		if n := len(v.box.msgs); n > 0 {
			last = uint32(v.box.msgs[n-1].uid)
		}
		for i := range set {
			staticRange((*uint32)(&set[i].Start), (*uint32)(&set[i].Stop), last)
		}
		return set
	}
	return numSet
}

func staticRange(start, stop *uint32, last uint32) {
	dyn := false
	if *start == 0 {
		*start, dyn = last, true
	}
	if *stop == 0 {
		*stop, dyn = last, true
	}
	if dyn && *start > *stop {
		*start, *stop = *stop, *start
	}
}

func (v *imapView) staticCriteria(c *imap.SearchCriteria) {
	seqs := make([]imap.SeqSet, 0, len(c.SeqNum))
	for _, set := range c.SeqNum {
		switch s := v.static(set).(type) {
		case imap.SeqSet:
			seqs = append(seqs, s)
		case imap.UIDSet: // "$"
			c.UID = append(c.UID, s)
		}
	}
	c.SeqNum = seqs
	for i, set := range c.UID {
		c.UID[i] = v.static(set).(imap.UIDSet)
	}
	for i := range c.Not {
		v.staticCriteria(&c.Not[i])
	}
	for i := range c.Or {
		v.staticCriteria(&c.Or[i][0])
		v.staticCriteria(&c.Or[i][1])
	}
}
