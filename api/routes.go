package api

import (
	"net/http"

	"github.com/backlinkoutreach/outreach/internal/inbox"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/workflows"
)

// registerRoutes is the whole route table. Campaign-scoped routes go into
// s.campaign, whose middleware answers 404 BacklinkCampaignNotFoundError for
// a campaign the caller does not own before any handler runs.
func (s *Server) registerRoutes() {
	// Operations.
	s.handle(s.public, Route{
		Method: http.MethodGet, Path: "/healthz", Summary: "process is up", Tag: "operations",
		Response: HealthResponse{}, Handler: s.healthz,
	})
	s.handle(s.public, Route{
		Method: http.MethodGet, Path: "/readyz", Summary: "database (and Temporal) reachable", Tag: "operations",
		Response: HealthResponse{}, Handler: s.readyz,
	})
	s.handle(s.public, Route{
		Method: http.MethodGet, Path: "/openapi.json", Summary: "this API as OpenAPI 3.1", Tag: "operations",
		Response: map[string]any{}, Handler: s.serveOpenAPI,
	})
	s.handle(s.public, Route{
		Method: http.MethodGet, Path: "/metrics", Summary: "Prometheus metrics (engine, HTTP, Temporal SDK, Go runtime)", Tag: "operations",
		Response: "", Produces: "text/plain; version=0.0.4", Handler: s.metricsHandler(),
	})

	// Campaigns.
	s.handle(s.authed, Route{
		Method: http.MethodPost, Path: "/campaigns", Summary: "create a campaign (state draft)", Tag: "campaigns",
		Request: CampaignCreate{}, Response: CampaignOut{}, Status: http.StatusCreated, Handler: s.createCampaign,
	})
	s.handle(s.authed, Route{
		Method: http.MethodGet, Path: "/campaigns", Summary: "list your campaigns, newest first, with lead counts per status", Tag: "campaigns",
		Response: CampaignList{}, Handler: s.listCampaigns, Query: []QueryParam{
			{Name: "state", Description: "only campaigns in this state: draft, active, paused or archived"},
			{Name: "include_archived", Type: "boolean", Description: "also list archived campaigns (hidden by default)"},
			{Name: "limit", Type: "integer", Description: "page size, 1 to 200, default 50"},
			{Name: "cursor", Description: "next_cursor of the previous page"},
		},
	})
	s.handle(s.campaign, Route{
		Method: http.MethodGet, Path: "", Summary: "one campaign with lead counts and effective settings", Tag: "campaigns",
		Response: CampaignOut{}, Handler: s.getCampaign,
	})
	s.handle(s.campaign, Route{
		Method: http.MethodPatch, Path: "", Summary: "change name, description, keywords or settings (settings merged per top-level key)", Tag: "campaigns",
		Request: CampaignPatch{}, Response: CampaignOut{}, Handler: s.patchCampaign,
	})
	s.handle(s.campaign, Route{
		Method: http.MethodDelete, Path: "", Summary: "delete a campaign: stops its workflows, removes its leads, e-mails, replies and analytics", Tag: "campaigns",
		Status: http.StatusNoContent, Accepted: DeletionPending{}, Handler: s.deleteCampaign,
	})
	s.handle(s.campaign, Route{
		Method: http.MethodPost, Path: "/archive", Summary: "archive a campaign (hidden from the list, no sending)", Tag: "campaigns",
		Response: CampaignOut{}, Handler: s.archiveCampaign,
	})
	s.handle(s.campaign, Route{
		Method: http.MethodPost, Path: "/unarchive", Summary: "restore an archived campaign; one that was active comes back paused", Tag: "campaigns",
		Response: CampaignOut{}, Handler: s.unarchiveCampaign,
	})
	s.handle(s.campaign, Route{
		Method: http.MethodGet, Path: "/sequence", Summary: "the campaign's effective e-mail sequence", Tag: "email",
		Response: SequenceOut{}, Handler: s.getSequence,
	})
	s.handle(s.campaign, Route{
		Method: http.MethodPut, Path: "/sequence", Summary: "set the campaign's e-mail sequence (pitch and follow-ups)", Tag: "email",
		Request: SequenceInput{}, Response: SequenceOut{}, Handler: s.putSequence,
	})

	// Leads. Routes with :lead_id go in the lead group, whose middleware
	// answers 404 BacklinkLeadNotFoundError for a lead outside the campaign.
	lead := s.campaign.Group("/leads/:lead_id", s.loadLead())
	s.handle(s.campaign, Route{
		Method: http.MethodPost, Path: "/leads", Summary: "add one lead (409 if the campaign has its website)", Tag: "leads",
		Request: LeadInput{}, Response: LeadOut{}, Status: http.StatusCreated, Handler: s.addLead,
	})
	s.handle(s.campaign, Route{
		Method: http.MethodPost, Path: "/leads/bulk", Summary: "add up to 10,000 leads (a JSON array); duplicates skipped, invalid rows reported, valid rows kept", Tag: "leads",
		Request: []LeadInput{}, Response: BulkAddResult{}, Handler: s.bulkAddLeads,
	})
	s.handle(s.campaign, Route{
		Method: http.MethodGet, Path: "/leads", Summary: "list leads with filters, sort and cursor pagination", Tag: "leads",
		Response: LeadList{}, Handler: s.listLeads, Query: []QueryParam{
			{Name: "status", Description: "only leads in these statuses (comma-separated)"},
			{Name: "min_quality", Type: "number", Description: "only leads with quality_score at least this (0 to 1)"},
			{Name: "q", Description: "text searched in website URL, title, contact e-mail and name (case-insensitive)"},
			{Name: "sort", Description: "created_at (default), -created_at, quality_score or -quality_score; unscored leads rank lowest"},
			{Name: "limit", Type: "integer", Description: "page size, 1 to 500, default 50"},
			{Name: "cursor", Description: "next_cursor of the previous page (same sort)"},
		},
	})
	s.handle(lead, Route{
		Method: http.MethodGet, Path: "", Summary: "one lead with its e-mails, replies and timeline", Tag: "leads",
		Response: LeadDetail{}, Handler: s.getLead,
	})
	s.handle(lead, Route{
		Method: http.MethodPatch, Path: "/status", Summary: "change a lead's status through its workflow (409 naming both states when the lifecycle forbids it)", Tag: "leads",
		Request: LeadStatusInput{}, Response: LeadOut{}, Handler: s.setLeadStatus,
	})
	s.handle(s.campaign, Route{
		Method: http.MethodPost, Path: "/leads/import", Summary: "import up to 100,000 leads from a CSV file (raw text/csv body, or the field file of a multipart/form-data form): " +
			"header row matched by name (website_url/url/website/site/domain, contact_email/email/e-mail, contact_name/name/contact, website_title/title, quality_score/quality, relevance_score/relevance, guest_post_likelihood/likelihood), " +
			"unknown columns listed in ignored_columns; invalid rows reported by line, the others kept; a file over the row or size limit imports nothing", Tag: "leads",
		Request: "", Consumes: "text/csv", Response: ImportResult{}, MaxBody: s.cfg.MaxImportBytes, Handler: s.importLeads,
	})
	s.handle(s.campaign, Route{
		Method: http.MethodPatch, Path: "/leads/bulk-status", Summary: "change the status of up to 10,000 leads; answers updated and one reason per failed id", Tag: "leads",
		Request: BulkStatusInput{}, Response: workflows.BulkStatusResult{}, Handler: s.bulkLeadStatus,
	})

	// Outreach: campaign control, the send ledger, follow-ups, manual
	// sends and the policy dry-run.
	s.handle(s.campaign, Route{
		Method: http.MethodPost, Path: "/launch", Summary: "start sending (draft to active); 422 lists leads whose e-mails would have unfilled placeholders", Tag: "outreach",
		Response: CampaignOut{}, Handler: s.launchCampaign,
	})
	s.handle(s.campaign, Route{
		Method: http.MethodPost, Path: "/pause", Summary: "stop sending at once (active to paused); nothing is lost", Tag: "outreach",
		Response: CampaignOut{}, Handler: s.pauseCampaign,
	})
	s.handle(s.campaign, Route{
		Method: http.MethodPost, Path: "/resume", Summary: "continue sending where it stopped (paused to active)", Tag: "outreach",
		Response: CampaignOut{}, Handler: s.resumeCampaign,
	})
	s.handle(s.campaign, Route{
		Method: http.MethodGet, Path: "/attempts", Summary: "the campaign's sent e-mails (send ledger) with their state", Tag: "outreach",
		Response: AttemptList{}, Handler: s.listAttempts, Query: []QueryParam{
			{Name: "state", Description: "only attempts in this state: pending, sending, sent, failed or unknown"},
			{Name: "lead_id", Description: "only attempts to this lead"},
			{Name: "limit", Type: "integer", Description: "page size, 1 to 500, default 50"},
			{Name: "cursor", Description: "next_cursor of the previous page"},
		},
	})
	s.handle(s.campaign, Route{
		Method: http.MethodGet, Path: "/follow-ups", Summary: "each contacted lead's next follow-up: step, due time and state", Tag: "outreach",
		Response: FollowUpList{}, Handler: s.listFollowUps, Query: []QueryParam{
			{Name: "state", Description: "only follow-ups in this state: scheduled, waiting_window, paused, parked or cancelled"},
			{Name: "limit", Type: "integer", Description: "leads per page, 1 to 500, default 50"},
			{Name: "cursor", Description: "next_cursor of the previous page"},
		},
	})
	s.handle(s.authed, Route{
		Method: http.MethodPost, Path: "/outreach/send", Summary: "send one lead its next e-mail now, through its workflow and every policy", Tag: "outreach",
		Request: SendNowInput{}, Response: SendNowOut{}, Status: http.StatusAccepted, Handler: s.sendNow,
	})
	s.handle(s.authed, Route{
		Method: http.MethodPost, Path: "/policy/validate", Summary: "dry-run the sending policy for a recipient: allowed, reason, counts and limits, legal basis", Tag: "outreach",
		Request: PolicyInput{}, Response: store.PolicyReport{}, Handler: s.validatePolicy,
	})

	// Replies, suppression, unsubscribe, audit. PATCH /replies/:reply_id
	// goes through the reply group, whose middleware answers 404
	// BacklinkReplyNotFoundError for another user's or an unmatched reply.
	reply := s.authed.Group("/replies/:reply_id", s.loadReply())
	s.handle(s.authed, Route{
		Method: http.MethodPost, Path: "/replies/poll", Summary: "poll the reply mailbox now (the scheduled poll's workflow); 409 when IMAP_HOST is not set", Tag: "replies",
		Response: PollOut{}, Handler: s.pollReplies,
	})
	s.handle(s.authed, Route{
		Method: http.MethodPost, Path: "/replies/inbound", Summary: "inbound-mail webhook: one raw RFC 5322 message, matched only against your e-mails (201 new, 200 already stored)", Tag: "replies",
		Request: "", Consumes: "message/rfc822", Response: InboundOut{}, Status: http.StatusCreated, MaxBody: inbox.MaxRawBytes, Handler: s.inboundReply,
	})
	s.handle(s.campaign, Route{
		Method: http.MethodGet, Path: "/replies", Summary: "the campaign's replies with their classification, newest first", Tag: "replies",
		Response: ReplyList{}, Handler: s.listReplies, Query: []QueryParam{
			{Name: "classification", Description: "only replies with this tag"},
			{Name: "lead_id", Description: "only replies of this lead"},
			{Name: "limit", Type: "integer", Description: "page size, 1 to 500, default 50"},
			{Name: "cursor", Description: "next_cursor of the previous page"},
		},
	})
	s.handle(reply, Route{
		Method: http.MethodPatch, Path: "", Summary: "reclassify a reply; its lead reacts as if the new tag were the first", Tag: "replies",
		Request: ReplyPatch{}, Response: ReplyOut{}, Handler: s.patchReply,
	})
	s.handle(s.authed, Route{
		Method: http.MethodPost, Path: "/suppression", Summary: "add an address or @domain to your suppression list (201 added, 200 already listed)", Tag: "suppression",
		Request: SuppressionInput{}, Response: SuppressionOut{}, Status: http.StatusCreated, Handler: s.addSuppression,
	})
	s.handle(s.authed, Route{
		Method: http.MethodGet, Path: "/suppression", Summary: "your suppression list, newest first", Tag: "suppression",
		Response: SuppressionList{}, Handler: s.listSuppressions, Query: []QueryParam{
			{Name: "source", Description: "only entries from this source: manual, unsubscribe, not_interested or hard_bounce"},
			{Name: "q", Description: "only entries whose value contains this text"},
			{Name: "limit", Type: "integer", Description: "page size, 1 to 1000, default 100"},
			{Name: "cursor", Description: "next_cursor of the previous page"},
		},
	})
	s.handle(s.authed, Route{
		Method: http.MethodDelete, Path: "/suppression/:entry", Summary: "remove an entry, named by its id or its value (address or @domain); answers the removed entry", Tag: "suppression",
		Response: SuppressionOut{}, Handler: s.deleteSuppression,
	})
	s.handle(s.authed, Route{
		Method: http.MethodGet, Path: "/audit", Summary: "your send decisions (approved, blocked, deferred) with reason and legal basis, newest first", Tag: "audit",
		Response: AuditList{}, Handler: s.listAudit, Query: []QueryParam{
			{Name: "campaign_id", Description: "only decisions for this campaign of yours"},
			{Name: "result", Description: "only approved, blocked or deferred decisions"},
			{Name: "limit", Type: "integer", Description: "page size, 1 to 1000, default 100"},
			{Name: "cursor", Description: "next_cursor of the previous page"},
		},
	})
	s.handle(s.public, Route{
		Method: http.MethodGet, Path: "/u/:token", Summary: "unsubscribe confirmation page (List-Unsubscribe link); changes nothing", Tag: "unsubscribe",
		Response: "", Produces: "text/html", Handler: s.unsubscribePage,
	})
	s.handle(s.public, Route{
		Method: http.MethodPost, Path: "/u/:token", Summary: "RFC 8058 one-click unsubscribe: suppresses the address at once and stops the lead", Tag: "unsubscribe",
		Request: OneClickForm{}, Consumes: "application/x-www-form-urlencoded", Response: "", Produces: "text/html", MaxBody: maxUnsubscribeBody, Handler: s.unsubscribeOneClick,
	})

	// E-mail templates and preview. Routes with :template_id go in the
	// template group, whose middleware answers 404
	// BacklinkTemplateNotFoundError for a template the caller does not own.
	tmpl := s.authed.Group("/emails/templates/:template_id", s.loadTemplate())
	s.handle(s.authed, Route{
		Method: http.MethodPost, Path: "/emails/templates", Summary: "create an e-mail template", Tag: "email",
		Request: TemplateInput{}, Response: TemplateOut{}, Status: http.StatusCreated, Handler: s.createTemplate,
	})
	s.handle(s.authed, Route{
		Method: http.MethodGet, Path: "/emails/templates", Summary: "list your e-mail templates", Tag: "email",
		Response: TemplateList{}, Handler: s.listTemplates, Query: []QueryParam{
			{Name: "category", Description: "only templates of this category"},
			{Name: "limit", Type: "integer", Description: "page size, 1 to 200, default 50"},
			{Name: "cursor", Description: "next_cursor of the previous page"},
		},
	})
	s.handle(tmpl, Route{
		Method: http.MethodGet, Path: "", Summary: "one e-mail template", Tag: "email",
		Response: TemplateOut{}, Handler: s.getTemplate,
	})
	s.handle(tmpl, Route{
		Method: http.MethodPut, Path: "", Summary: "replace an e-mail template", Tag: "email",
		Request: TemplateInput{}, Response: TemplateOut{}, Handler: s.putTemplate,
	})
	s.handle(tmpl, Route{
		Method: http.MethodDelete, Path: "", Summary: "delete an e-mail template (409 while a campaign sequence uses it)", Tag: "email",
		Status: http.StatusNoContent, Handler: s.deleteTemplate,
	})
	s.handle(s.authed, Route{
		Method: http.MethodPost, Path: "/emails/preview", Summary: "render a template or inline subject and body for a lead; lists unknown and unfilled placeholders", Tag: "email",
		Request: PreviewRequest{}, Response: PreviewOut{}, Handler: s.preview,
	})

	// Analytics, reporting and CSV exports (definitions in analytics.go).
	s.handle(s.campaign, Route{
		Method: http.MethodGet, Path: "/analytics", Summary: "campaign analytics: leads by status, e-mails by state, replies by classification, " +
			"response rate (leads with a human reply record - interested, not_interested, asks_payment, replied, unsubscribe; not bounces or auto-replies - / leads with a sent e-mail), " +
			"placement rate (placed / leads contacted or later), funnel, daily sends in the campaign's timezone", Tag: "analytics",
		Response: CampaignAnalytics{}, Handler: s.campaignAnalytics, Query: []QueryParam{
			{Name: "days", Type: "integer", Description: "days of daily_sends, 1 to 365, default 30; the totals are all-time"},
		},
	})
	s.handle(s.authed, Route{
		Method: http.MethodGet, Path: "/reporting/snapshot", Summary: "totals and rates across all your campaigns (archived included), from stored reply records rather than lead statuses, with one line per campaign", Tag: "analytics",
		Response: ReportingSnapshot{}, Handler: s.reportingSnapshot,
	})
	exportQuery := []QueryParam{{Name: "bom", Type: "boolean", Description: "start the file with a UTF-8 byte order mark (for Excel)"}}
	s.handle(s.campaign, Route{
		Method: http.MethodGet, Path: "/export/leads", Summary: "the campaign's leads as CSV, streamed; cells a spreadsheet would run as formulas are prefixed with '", Tag: "analytics",
		Response: "", Produces: "text/csv", Query: exportQuery, Handler: s.exportLeads,
	})
	s.handle(s.campaign, Route{
		Method: http.MethodGet, Path: "/export/attempts", Summary: "the campaign's send ledger as CSV, streamed; cells a spreadsheet would run as formulas are prefixed with '", Tag: "analytics",
		Response: "", Produces: "text/csv", Query: exportQuery, Handler: s.exportAttempts,
	})
	s.handle(s.campaign, Route{
		Method: http.MethodGet, Path: "/export/replies", Summary: "the campaign's replies as CSV, streamed; cells a spreadsheet would run as formulas are prefixed with '", Tag: "analytics",
		Response: "", Produces: "text/csv", Query: exportQuery, Handler: s.exportReplies,
	})
}
