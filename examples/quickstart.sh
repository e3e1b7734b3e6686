#!/bin/sh
# Quickstart: one campaign from creation to analytics, against `make dev`
# (`outreach dev`) running in another terminal.
#
#   sh examples/quickstart.sh
#
# It creates the campaign "SaaS Growth Blogs Q3", adds the example lead and
# a bulk batch, sets a two-step sequence, launches, watches the pitches
# arrive in the dev mailbox, answers one of them with an interested reply
# (through the dev IMAP inbox, as a real reply would come), sees that lead
# become `replied` while its follow-up is never sent (the others get
# theirs), bulk-updates two leads, and reads the analytics. Each step checks
# the answer and the script stops at the first surprise (exit status 1).
#
# It needs only sh, curl, grep and sed (no jq, no python): JSON fields are
# read with grep/sed, which is enough for the API's compact answers.
#
# Settings (environment):
#   OUTREACH_URL          the API's address        (default http://127.0.0.1:8080)
#   OUTREACH_API_KEY      an API key               (default: the dev user's,
#                         read from $OUTREACH_DATA_DIR/dev-api-key)
#   OUTREACH_DATA_DIR     outreach dev's data      (default ./.data)
#   FOLLOW_UP_DELAY_DAYS  delay of the follow-up   (default 0.0005, 43 s)
set -eu

command -v curl >/dev/null 2>&1 || { echo "quickstart: curl is required" >&2; exit 1; }

BASE=${OUTREACH_URL:-http://127.0.0.1:8080}
API=$BASE/api/v1/backlink-outreach
DATA=${OUTREACH_DATA_DIR:-./.data}
KEY=${OUTREACH_API_KEY:-}
DELAY=${FOLLOW_UP_DELAY_DAYS:-0.0005}
# The pitch's subject carries the run's time: the sending policy refuses
# the same subject to the same address within 24 hours from another lead
# (SPEC §5), and a second run (or the README's steps before it) pitches the
# same addresses from a new campaign.
RUN=$(date +%H%M%S)

step() { printf '\n==> %s\n' "$*"; }
die() { echo "quickstart: $*" >&2; exit 1; }

# call STATUS METHOD PATH [JSON]: the answer's body on stdout; any other
# status than STATUS stops the script with the answer.
call() {
	want=$1 method=$2 path=$3
	if [ $# -ge 4 ]; then
		out=$(curl -sS -X "$method" -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
			--data-binary "$4" -w '\n%{http_code}' "$API$path") || die "$method $path: no answer from $BASE"
	else
		out=$(curl -sS -X "$method" -H "Authorization: Bearer $KEY" -w '\n%{http_code}' "$API$path") ||
			die "$method $path: no answer from $BASE"
	fi
	code=$(printf '%s\n' "$out" | tail -n 1)
	body=$(printf '%s\n' "$out" | sed '$d')
	[ "$code" = "$want" ] || die "$method $path: status $code, want $want: $body"
	printf '%s\n' "$body"
}

# field NAME: the first "NAME": value of the JSON on stdin (strings unquoted).
# Answers are kept in variables first (R=$(call ...)): a failing call inside
# a pipeline would not stop the script.
field() {
	grep -oE "\"$1\":(\"[^\"]*\"|[-+.0-9eEa-z]+)" | head -n 1 | sed -E 's/^"[^"]*"://; s/^"(.*)"$/\1/'
}

# count TEXT: how many times TEXT occurs in stdin.
count() { grep -oF "$1" | wc -l | tr -d ' '; }

# wait_for SECONDS WHAT COMMAND...: retry COMMAND every second.
wait_for() {
	secs=$1 what=$2
	shift 2
	i=0
	until "$@"; do
		i=$((i + 1))
		[ "$i" -lt "$secs" ] || die "timed out after ${secs}s waiting for $what"
		sleep 1
	done
}

ready() { curl -sf "$BASE/readyz" >/dev/null 2>&1; }

step "waiting for the API at $BASE (start it with: make dev)"
wait_for 120 "$BASE/readyz" ready
if [ -z "$KEY" ]; then
	[ -r "$DATA/dev-api-key" ] || die "no API key: set OUTREACH_API_KEY, or OUTREACH_DATA_DIR to outreach dev's data directory"
	KEY=$(cat "$DATA/dev-api-key")
fi

step "create the campaign"
R=$(call 201 POST /campaigns '{
  "name": "SaaS Growth Blogs Q3",
  "description": "Outreach to SaaS marketing blogs for guest post placements",
  "keywords": ["SaaS", "growth marketing", "B2B"]
}')
CAMPAIGN=$(echo "$R" | field id)
echo "campaign $CAMPAIGN"

step "send at any hour, without the minimum gap between e-mails (for the demo; keep the defaults for real outreach)"
R=$(call 200 PATCH "/campaigns/$CAMPAIGN" '{"settings": {
  "timezone": "UTC",
  "window": {"days": ["mon","tue","wed","thu","fri","sat","sun"], "start": "00:00", "end": "24:00"},
  "min_gap_seconds": 0, "jitter_seconds": 0,
  "sender": {"name": "Alex Writer", "site": "https://alexwrites.example"}
}}')
echo "state $(echo "$R" | field state), window every day 00:00-24:00 UTC"

step "add the example lead"
R=$(call 201 POST "/campaigns/$CAMPAIGN/leads" '{
  "website_url": "https://example.com",
  "website_title": "Example Marketing Blog",
  "contact_email": "editor@example.com",
  "quality_score": 0.85,
  "relevance_score": 0.72,
  "guest_post_likelihood": 0.65,
  "source": "manual"
}')
LEAD=$(echo "$R" | field id)
echo "lead $LEAD (example.com)"

step "bulk add three more (and example.com again, which is skipped)"
BULK=$(call 200 POST "/campaigns/$CAMPAIGN/leads/bulk" '[
  {"website_url": "https://saasmarketing.example.org", "website_title": "SaaS Marketing Weekly", "contact_email": "hello@saasmarketing.example.org", "quality_score": 0.9},
  {"website_url": "https://growthnotes.example.net/blog", "website_title": "Growth Notes", "contact_email": "dana@growthnotes.example.net", "contact_name": "Dana", "quality_score": 0.6},
  {"website_url": "https://b2bweekly.example.io", "website_title": "B2B Weekly", "contact_email": "editor@b2bweekly.example.io", "quality_score": 0.75},
  {"website_url": "https://www.example.com/"}
]')
echo "added $(echo "$BULK" | field added), skipped $(echo "$BULK" | field skipped)"
[ "$(echo "$BULK" | field added)" = 3 ] || die "bulk add: $BULK"

step "set a two-step sequence: the pitch, and a follow-up $DELAY days later"
R=$(call 200 PUT "/campaigns/$CAMPAIGN/sequence" '{"steps": [
  {"subject": "Guest post idea for {website_title} ('"$RUN"')",
   "body": "Hello,\n\nI enjoy reading {website_title} and would love to write a guest post about {topic} for your readers. I can send three title ideas this week.\n\nBest,\n{your_name}\n{your_site}"},
  {"body": "Hello again,\n\nJust checking whether a guest post on {topic} would fit {website_title}.\n\nBest,\n{your_name}",
   "delay_days": '"$DELAY"'}
]}')
echo "sequence set: $(echo "$R" | count '"delay_days":') steps"

step "launch"
R=$(call 200 POST "/campaigns/$CAMPAIGN/launch")
echo "state $(echo "$R" | field state)"

step "the four pitches arrive in the dev mailbox"
# Predicates for wait_for: an error answer counts as "not yet".
sent_count() {
	M=$(call 200 GET "/dev/mailbox/messages?campaign_id=$CAMPAIGN") && echo "$M" | count "\"step\":$1" || echo 0
}
pitches() { [ "$(sent_count 0)" -ge 4 ]; }
wait_for 120 "four pitches in the dev mailbox (GET /audit tells what held them back)" pitches
R=$(call 200 GET "/dev/mailbox/messages?campaign_id=$CAMPAIGN")
echo "$R" | grep -oE '"to":\["[^"]*"\],"subject":"[^"]*"' | sed 's/^/  /'

step "the editor of example.com answers: interested (a reply in the dev IMAP inbox, then a poll)"
REPLY=$(call 201 POST /dev/mailbox/replies '{"lead_id": "'"$LEAD"'",
  "body": "Hi Alex,\n\nSounds great, we would love a guest post. Please send over your topic ideas.\n\nSam"}')
CLASS=$(echo "$REPLY" | field classification)
echo "reply classified: $CLASS"
[ "$CLASS" = interested ] || die "reply: $REPLY"

step "the lead becomes replied"
lead_replied() { L=$(call 200 GET "/campaigns/$CAMPAIGN/leads/$LEAD") && [ "$(echo "$L" | field status)" = replied ]; }
wait_for 60 "lead $LEAD to become replied" lead_replied
echo "lead $LEAD: replied"

step "the others get their follow-up; example.com never does"
followups() { [ "$(sent_count 1)" -ge 3 ]; }
wait_for 240 "three follow-ups in the dev mailbox" followups
R=$(call 200 GET "/dev/mailbox/messages?lead_id=$LEAD")
MINE=$(echo "$R" | count '"message_id":')
[ "$MINE" = 1 ] || die "example.com received $MINE e-mails, want 1 (the pitch)"
echo "example.com: $MINE e-mail (the pitch); follow-ups:"
R=$(call 200 GET "/campaigns/$CAMPAIGN/follow-ups")
echo "$R" | grep -oE '"lead_id":"[^"]*","step":[0-9]+,"due_at":"[^"]*","state":"[a-z_]*"' | sed 's/^/  /'

step "bulk-update two leads (they answered by phone): replied"
R=$(call 200 GET "/campaigns/$CAMPAIGN/leads?status=contacted&limit=2")
OTHERS=$(echo "$R" | grep -oE '"id":"[^"]*"' | sed -E 's/"id":"(.*)"/"\1"/' | paste -sd, -)
R=$(call 200 PATCH "/campaigns/$CAMPAIGN/leads/bulk-status" '{"lead_ids": ['"$OTHERS"'], "status": "replied"}')
UPDATED=$(echo "$R" | field updated)
echo "updated $UPDATED"
[ "$UPDATED" = 2 ] || die "bulk status: updated $UPDATED, want 2"

step "example.com published the post: placed"
R=$(call 200 PATCH "/campaigns/$CAMPAIGN/leads/$LEAD/status" '{"status": "placed"}')
echo "lead $LEAD: $(echo "$R" | field status)"

step "analytics"
STATS=$(call 200 GET "/campaigns/$CAMPAIGN/analytics?days=7")
for f in total_leads emails_sent leads_sent leads_responded leads_placed response_rate placement_rate; do
	printf '  %-16s %s\n' "$f" "$(echo "$STATS" | field "$f")"
done
printf '  %-16s %s\n' "interested" "$(echo "$STATS" | field interested)"
[ "$(echo "$STATS" | field emails_sent)" = 7 ] || die "analytics: emails_sent is not 7: $STATS"
[ "$(echo "$STATS" | field response_rate)" = 0.25 ] || die "analytics: response_rate is not 0.25: $STATS"

printf '\nDone. Open the campaign in the Temporal Web UI with the query CampaignId="%s".\n' "$CAMPAIGN"
