// Package devmail is the dev mailbox of `outreach dev`: a capturing SMTP
// server and an IMAP server holding the outreach inbox, both on loopback and
// both kept on disk, so a developer can run whole campaigns (sends, replies,
// bounces) on one machine and restart at will.
//
// Map:
//   - mailbox.go: Mailbox owns both servers (Start, Close, Inject).
//   - sent.go: SentBox, the captured outgoing mail: one .eml file per
//     message plus an index (index.jsonl) rebuilt from the files when needed.
//   - smtp.go: the go-smtp backend; accepts any sender, recipient and
//     credentials (AUTH PLAIN, LOGIN, CRAM-MD5); STARTTLS with a throwaway
//     certificate only when Options.StartTLS is set.
//   - imapstore.go: the IMAP mailboxes on disk: one .eml file per message
//     and an append-only journal (mailboxes, UIDs, flags, internal dates),
//     compacted at start. UIDs and UIDVALIDITY never change across restarts.
//   - imapsession.go, imapsearch.go: the go-imap imapserver.Session over
//     that store.
//
// Layout under Options.DataDir (OUTREACH_DATA_DIR):
//
//	mailbox/sent/index.jsonl, mailbox/sent/0000000001.eml, ...
//	mailbox/imap/journal.jsonl, mailbox/imap/<uidvalidity>/<uid>.eml
//
// Nothing here is meant for production: no TLS that a client could verify
// without being handed the certificate, any SMTP credentials accepted, and
// one process per data directory.
package devmail
