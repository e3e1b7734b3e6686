package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/backlinkoutreach/outreach/internal/mail"
	"github.com/backlinkoutreach/outreach/internal/metrics"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/unsub"
	"github.com/backlinkoutreach/outreach/workflows"
)

// smtpTimeout bounds one SMTP conversation. Deleting a campaign waits
// longer than this (plus the time to record the outcome) for the
// campaign's conversations in flight.
const smtpTimeout = time.Minute

// SendStep is the only place an e-mail leaves the engine. One transaction
// decides and reserves (store.BeginSend), one SMTP conversation delivers,
// one transaction records the outcome. A 5xx is a non-retryable
// SMTPPermanentFailure (the lead has bounced); 4xx and network errors are
// retryable errors after the row went back to pending with its cap slots
// released.
func (a *Activities) SendStep(ctx context.Context, req workflows.SendRequest) (workflows.SendResult, error) {
	stop := keepAlive(ctx)
	defer stop()
	select {
	case a.sendSlots <- struct{}{}:
	case <-ctx.Done():
		return workflows.SendResult{}, fmt.Errorf("wait for a send slot: %w", ctx.Err())
	}
	defer func() { <-a.sendSlots }()

	now := a.now()
	d, err := store.BeginSend(ctx, a.DB, store.SendRequest{
		CampaignID: req.CampaignID, LeadID: req.LeadID, Step: req.Step, Now: now,
		Limits: a.Settings.Limits, IgnoreDue: req.IgnoreDue, Replan: req.Replan, MessageDomain: a.messageDomain(),
	})
	if err != nil {
		return workflows.SendResult{}, err
	}
	res := workflows.SendResult{Status: d.LeadStatus, Reason: d.Reason, Until: d.Until}
	if d.Outcome != store.OutcomeGone {
		res.Plan = a.planFrom(d.Settings)
	}
	switch d.Outcome {
	case store.OutcomeSent:
		res.Outcome = workflows.OutcomeSent
		if d.Attempt.SentAt != nil {
			res.SentAt = *d.Attempt.SentAt
		}
		return res, nil
	case store.OutcomeUnknown:
		res.Outcome = workflows.OutcomeUnknown
		if d.Attempt.SendingAt != nil {
			res.SentAt = *d.Attempt.SendingAt
		}
		if d.FreshUnknown {
			metrics.UnknownSendsTotal.Inc()
			metrics.SendsTotal.WithLabelValues("unknown").Inc()
			a.Log.WarnContext(ctx, "send outcome unknown after an interruption; it will not be sent again",
				"campaign_id", req.CampaignID, "lead_id", req.LeadID, "step", req.Step)
		}
		return res, nil
	case store.OutcomeFailed:
		res.Outcome = workflows.OutcomeFailed
		return res, nonRetryable("the step was refused permanently by the SMTP server", workflows.ErrTypeSMTPPermanent, res)
	case store.OutcomeDeferred:
		res.Outcome = workflows.OutcomeDeferred
		metrics.SendsTotal.WithLabelValues("deferred").Inc()
		metrics.PolicyBlocksTotal.WithLabelValues(reasonLabel(d.Reason)).Inc()
		return res, nil
	case store.OutcomePaused:
		res.Outcome = workflows.OutcomePaused
		metrics.SendsTotal.WithLabelValues("paused").Inc()
		return res, nil
	case store.OutcomeBlocked:
		res.Outcome = workflows.OutcomeBlocked
		metrics.SendsTotal.WithLabelValues("blocked").Inc()
		metrics.PolicyBlocksTotal.WithLabelValues(reasonLabel(d.Reason)).Inc()
		return res, nil
	case store.OutcomeDone:
		res.Outcome = workflows.OutcomeDone
		return res, nil
	case store.OutcomeGone:
		res.Outcome = workflows.OutcomeGone
		return res, nil
	case store.OutcomeApproved:
	default:
		return res, fmt.Errorf("unexpected send decision %q", d.Outcome)
	}

	att := d.Attempt
	msg := mail.Message{
		MessageID: att.MessageID, InReplyTo: att.InReplyTo, References: d.Thread,
		From: a.Settings.From, FromName: a.Settings.FromName,
		To: att.Recipient, ToName: d.Lead.ContactName,
		Subject: att.Subject, Text: att.Body, HTML: d.HTML,
		UnsubscribeURL: a.unsubscribeURL(unsub.Claims{
			UserID: att.UserID, CampaignID: att.CampaignID, LeadID: att.LeadID, Email: att.Recipient,
		}),
		UnsubscribeMailto: a.Settings.From,
		Date:              now,
	}
	sctx, cancel := context.WithTimeout(ctx, smtpTimeout)
	sendErr := a.Mail.Send(sctx, msg)
	cancel()
	// The outcome is recorded even when the activity is being cancelled:
	// a row left in sending would turn unknown.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer rcancel()
	log := a.Log.With("campaign_id", att.CampaignID, "lead_id", att.LeadID, "step", att.Step, "message_id", att.MessageID)
	if sendErr == nil {
		// One time for the ledger and for the workflow, which times the
		// next step from it: the send step checks that due time against
		// the ledger, and a conversation of seconds made every follow-up,
		// asked when due, wait as not_due first.
		sentAt := a.now()
		st := res.Status
		err := retryDB(rctx, func(ctx context.Context) error {
			var err error
			st, err = store.FinishSent(ctx, a.DB, att, sentAt)
			return err
		})
		if err != nil {
			log.ErrorContext(ctx, "sent, but the ledger was not updated; the step will be marked unknown", "error", err)
			return res, err
		}
		metrics.SendsTotal.WithLabelValues("sent").Inc()
		res.Outcome, res.SentAt, res.Status = workflows.OutcomeSent, sentAt, st
		return res, nil
	}
	switch mail.KindOf(sendErr) {
	case mail.Permanent:
		st := res.Status
		err := retryDB(rctx, func(ctx context.Context) error {
			var err error
			st, err = store.FinishFailed(ctx, a.DB, att, sendErr.Error(), a.now())
			return err
		})
		if err != nil {
			return res, err
		}
		metrics.SendsTotal.WithLabelValues("failed").Inc()
		log.InfoContext(ctx, "recipient refused permanently; lead bounced and address suppressed", "error", sendErr)
		res.Outcome, res.Status, res.Reason = workflows.OutcomeFailed, st, sendErr.Error()
		return res, nonRetryable(sendErr.Error(), workflows.ErrTypeSMTPPermanent, res)
	case mail.Ambiguous:
		st := res.Status
		err := retryDB(rctx, func(ctx context.Context) error {
			var err error
			st, err = store.FinishUnknown(ctx, a.DB, att, sendErr.Error(), a.now())
			return err
		})
		if err != nil {
			return res, err
		}
		metrics.UnknownSendsTotal.Inc()
		metrics.SendsTotal.WithLabelValues("unknown").Inc()
		log.WarnContext(ctx, "connection lost after the message was handed over; it will not be sent again", "error", sendErr)
		res.Outcome, res.SentAt, res.Status = workflows.OutcomeUnknown, now, st
		return res, nil
	default:
		err := retryDB(rctx, func(ctx context.Context) error {
			return store.FinishRetry(ctx, a.DB, att, sendErr.Error(), a.now())
		})
		if err != nil {
			return res, err
		}
		var se *mail.SendError
		if errors.As(sendErr, &se) && se.Config {
			// Every send meets it until SMTP_* is fixed: an error, and its
			// own metric outcome to alert on.
			metrics.SendsTotal.WithLabelValues("refused_config").Inc()
			log.ErrorContext(ctx, "the SMTP server refuses our sender, login or session (or SMTP_FROM is unusable); "+
				"sends are retried until the SMTP settings are fixed", "error", sendErr)
			return res, fmt.Errorf("send %s: %w", att.MessageID, sendErr)
		}
		metrics.SendsTotal.WithLabelValues("retried").Inc()
		log.InfoContext(ctx, "send failed temporarily; retrying with backoff", "error", sendErr)
		return res, fmt.Errorf("send %s: %w", att.MessageID, sendErr)
	}
}

// reasonLabel keeps metric labels to the reason code, without details.
func reasonLabel(reason string) string {
	if i := strings.IndexByte(reason, ':'); i >= 0 {
		return reason[:i]
	}
	return reason
}
