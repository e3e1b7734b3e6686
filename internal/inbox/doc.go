// Package inbox turns inbound mail into classified replies (SPEC §8).
//
// The way through it:
//
//	Parse (parse.go, html.go, strip.go, dsn.go)   raw RFC 5322 bytes -> Message
//	Rules / LLM (classify.go, oodate.go, llm.go)  Message -> Result (tag, bounce, return date)
//	Pipeline (pipeline.go)                         dedupe, match, classify, store, suppress
//	Effects (effects.go, notify.go)                deliver stored replies to lead workflows
//	Poller (imap.go)                               IMAP mailboxes -> Pipeline, with checkpoints
//
// Parsing never fails: a message that cannot be read is still returned (and
// stored) with Parsed false, so one bad message never stops a poll. Storing
// and signalling are separate steps: a reply is stored (with its suppression)
// in one transaction, and its effect is delivered to the lead workflow
// afterwards and retried until it lands, so a Temporal outage loses nothing.
package inbox
