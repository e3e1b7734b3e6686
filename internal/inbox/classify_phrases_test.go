package inbox

import (
	"testing"
	"time"

	"github.com/backlinkoutreach/outreach/models"
)

// phraseCase is a reply written by a person and the tag its words imply.
type phraseCase struct{ text, want string }

// classifyPhrases classifies each text as the body of a reply and reports
// the ones whose tag is not the one wanted.
func classifyPhrases(t *testing.T, cases []phraseCase) {
	t.Helper()
	for _, tt := range cases {
		m := &Message{Text: tt.text, Reply: StripQuoted(tt.text), Date: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
		if r := ClassifyRules(m); r.Tag != tt.want {
			t.Errorf("%q: got %s (%s), want %s", tt.text, r.Tag, r.Rule, tt.want)
		}
	}
}

// An unsubscribe request names the sender, their address or our mail:
// "remove", "opt out" and "stop" about anything else (links in the draft,
// the author bio, the sender's own writing) are not one. An unsubscribe
// suppresses the address for good, so a reply that accepts must not read
// as one.
func TestClassifyUnsubscribeObject(t *testing.T) {
	t.Parallel()
	yes, unsub := models.ReplyInterested, models.ReplyUnsubscribe
	classifyPhrases(t, []phraseCase{
		{"Sounds good, go ahead. Just remove the affiliate links from the list at the end.", yes},
		{"Happy to publish it. You can opt out of the author bio if you like.", yes},
		{"I can't stop writing about this topic myself, send me the draft!", yes},
		{"Go ahead. Please remove the second link from the resources list.", yes},
		{"Sounds great. Remove the intro paragraph and the list of tools, then send it over.", yes},
		{"Happy to publish. Authors can opt out of the newsletter feature if they prefer.", yes},
		{"Sounds good. You may opt-out of the comments section.", yes},
		{"We'd love it. Please stop sending the drafts as PDFs though, a Google Doc is easier.", yes},
		{"Go for it. Take this link off the intro, it points to a competitor.", yes},
		{"Send it over, we never stop writing about gardening here.", yes},
		// Requests to be taken off the list still are.
		{"Remove me from your list.", unsub},
		{"Please remove my email from your mailing list.", unsub},
		{"Kindly remove this email address from your outreach list, thank you.", unsub},
		{"Please remove info@parkviewvets.com from your list permanently.", unsub},
		{"Could you please remove me from any further follow-ups?", unsub},
		{"Please remove us from all your lists.", unsub},
		{"Remove my address from your database.", unsub},
		{"Please remove me, thanks.", unsub},
		{"Opt me out.", unsub},
		{"Please opt us out of these emails.", unsub},
		{"I want to opt out.", unsub},
		{"Opt-out.", unsub},
		{"Thanks. Opt out please.\n\n> On Tue, Dana wrote:\n> pitch", unsub},
		{"I'd like to opt out of all future communications.", unsub},
		{"Unsubscribe", unsub},
		{"Stop emailing me.", unsub},
		{"Please stop sending me these emails.", unsub},
		{"Stop writing to me.", unsub},
		{"Can you stop sending us follow ups?", unsub},
		{"Please take me off your list.", unsub},
		{"Kindly take this address off your mailing list.", unsub},
	})
}

// A restriction ("no more than one link", "we can't pay") or a phrase that
// only looks like a refusal ("all set on our side", "our in-house editor",
// "I don't want to miss this") beside an acceptance is an acceptance:
// not_interested suppresses the address for good. Refusals without an
// acceptance stay refusals.
func TestClassifyConditionalAcceptance(t *testing.T) {
	t.Parallel()
	yes, no := models.ReplyInterested, models.ReplyNotInterested
	classifyPhrases(t, []phraseCase{
		{"We're not in a position to pay for content, but happy to publish it.", yes},
		{"Send it over, our in-house editor will review it.", yes},
		{"Great, all set on our side. Send over the draft whenever you're ready.", yes},
		{"Thanks! We don't allow more than one link per post, but send your draft and we'll take a look.", yes},
		{"I don't want to miss this, send me your draft!", yes},
		{"We can't pay contributors, but we'd love to publish your piece.", yes},
		{"We are not able to offer payment. Happy to publish it though.", yes},
		{"We don't accept dofollow links, but go ahead and send the article.", yes},
		{"We do not allow affiliate links. Otherwise sounds good, send it over!", yes},
		{"We won't accept more than two links. Send me the draft.", yes},
		{"Our in-house team will edit it, so go ahead.", yes},
		{"Our in house designer will add images. Send it over when ready.", yes},
		{"We're all set here, go ahead and send the draft.", yes},
		{"I wouldn't want to pass this up. Send it over!", yes},
		{"Don't want to keep you waiting: yes, send it over.", yes},
		{"We don't want anything too salesy, but we'd love a guest post from you.", yes},
		{"I don't want you to feel rushed, send it over whenever it's ready.", yes},
		{"We don't take you for a spammer. Send it over.", yes},
		// Conditions alone refuse nothing.
		{"We don't allow more than one link per post.", models.ReplyNeutral},
		{"Our in-house editor will review it.", models.ReplyNeutral},
		{"All set on our side.", models.ReplyNeutral},
		{"We can't pay for guest posts.", models.ReplyNeutral},
		{"We don't accept AI-generated articles.", models.ReplyNeutral},
		// Refusals.
		{"We don't accept guest posts.", no},
		{"Not interested, thanks.", no},
		{"We're all set, thanks.", no},
		{"We're all set on content, thanks though!", no},
		{"We have an in-house team that writes all our content.", no},
		{"All our content is written in-house.", no},
		{"We don't accept guest posts. Looking forward to your other work though.", no},
		{"Not interested. Please don't send it over.", no},
		{"We're not in a position to take this on. Thanks anyway.", no},
		{"We don't want guest content on the site.", no},
		{"No thanks, we're not accepting submissions.", no},
	})
}

// Asking never to be contacted again is an unsubscribe in any wording;
// declining the offer is a refusal in any wording. Neither may end as a
// neutral reply, which suppresses nothing.
func TestClassifyOptOutWordings(t *testing.T) {
	t.Parallel()
	unsub, no, neutral := models.ReplyUnsubscribe, models.ReplyNotInterested, models.ReplyNeutral
	classifyPhrases(t, []phraseCase{
		{"Don't ever email me again.", unsub},
		{"Please don't reach out again.", unsub},
		{"Kindly refrain from contacting me.", unsub},
		{"Lose my email address.", unsub},
		{"This is spam.", unsub},
		{"Never contact me again.", unsub},
		{"Do not ever contact us again.", unsub},
		{"Please do not reach out to me again.", unsub},
		{"Don't reach out to us anymore.", unsub},
		{"Please don't reach out.", unsub},
		{"Dont email me again", unsub},
		{"Please refrain from emailing us in the future.", unsub},
		{"Refrain from sending us further emails.", unsub},
		{"Lose my number and my email.", unsub},
		{"Please delete my email address.", unsub},
		{"Forget my email address, please.", unsub},
		{"this is SPAM!", unsub},
		{"This email is spam.", unsub},
		{"Your emails are spam and I'm tired of them.", unsub},
		{"It's spam, plain and simple.", unsub},
		{"You're a spammer.", unsub},
		{"I've marked this as spam.", unsub},
		{"I don't wish to be contacted.", unsub},
		{"Spam.", unsub},
		{"Please stop.", unsub},
		// Near misses.
		{"Your email ended up in my spam folder, what is this about?", neutral},
		{"Is this spam?", neutral},
		{"This isn't spam, is it? Who do you work for?", neutral},
		{"I thought this was spam at first. Sounds good, send it over.", models.ReplyInterested},
		{"Go ahead, we publish spam-free content only.", models.ReplyInterested},
		{"Please don't reach out to my assistant, send the draft to me directly.", models.ReplyInterested},
		{"Don't send me the invoice, send me the draft!", models.ReplyInterested},
		{"Please refrain from sending the draft before Monday, then go ahead.", models.ReplyInterested},
		{"Forget my last email, send it over!", models.ReplyInterested},

		{"We dont accept guest posts.", no},
		{"Thanks, but I'm going to pass on this one.", no},
		{"We doesnt accept guest posts", no},
		{"We wont be accepting guest posts this year.", no},
		{"We cant take guest articles.", no},
		{"We arent accepting submissions.", no},
		{"We'll pass on this.", no},
		{"I think I'll pass on it, thanks.", no},
		{"We're passing on this one.", no},
		{"Gonna pass on this one, sorry.", no},
		{"I'll pass on your offer, thanks.", no},
		{"We have to pass on the opportunity.", no},
		// Referrals are not refusals.
		{"I'll pass this on to our editor.", neutral},
		{"Passing this on to my colleague.", neutral},
		{"I'll pass on your email to the editor.", neutral},
		{"I've passed it on.", neutral},
		{"I'll pass it along to the team.", neutral},
		{"I'll pass on this to Sam, she runs the blog.", neutral},
		{"I'll pass on your message.", neutral},
		{"I'll pass on the offer to my boss.", neutral},
	})
}
