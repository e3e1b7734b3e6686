package inbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/backlinkoutreach/outreach/internal/config"
	"github.com/backlinkoutreach/outreach/models"
)

// LLM classifies replies with an OpenAI-compatible chat completions
// endpoint. Header facts stay with the rules: delivery reports and
// automatic replies are never sent to the model. Any failure (network,
// status, malformed answer, unknown tag) falls back to the rules, so
// classification never fails and never waits longer than Timeout.
type LLM struct {
	// BaseURL is the API root (".../v1"); "/chat/completions" is added
	// unless it is already there.
	BaseURL string
	APIKey  string
	Model   string
	HTTP    *http.Client
	// Timeout bounds one request; 0 means 20 s.
	Timeout time.Duration
	Log     *slog.Logger
}

var _ Classifier = (*LLM)(nil)

// NewClassifier picks the classifier the configuration asks for: the LLM
// when LLM_BASE_URL is set, the rules otherwise.
func NewClassifier(c config.Config, log *slog.Logger) Classifier {
	if strings.TrimSpace(c.LLMBaseURL) == "" {
		return Rules{}
	}
	return &LLM{BaseURL: c.LLMBaseURL, APIKey: c.LLMAPIKey, Model: c.LLMModel, Log: log}
}

// maxLLMText bounds the reply text sent to the model.
const maxLLMText = 6000

const llmPrompt = `You sort replies to link-building outreach e-mails (pitches offering a guest post to a website).
Answer with one JSON object: {"tag": "<tag>", "return_date": "<YYYY-MM-DD or null>"}.
Tags:
- interested: the editor accepts or wants to go ahead (asks for the draft, topics, an outline).
- not_interested: a refusal (no guest posts, not a fit, no thanks).
- unsubscribe: asks not to be e-mailed again, to be removed from a list, or to delete their data.
- asks_payment: wants money for the placement (a fee, a price, sponsored post rates, a budget question).
- out_of_office: an automatic or away reply (holiday, leave, travelling, ticket acknowledgement).
- replied: anything else a person wrote (questions, forwarding to a colleague, "let me check").
return_date: for out_of_office, the first day the sender is back, resolved against the message date; otherwise null.`

// Classify implements Classifier.
func (l *LLM) Classify(ctx context.Context, m *Message) (Result, error) {
	rules := classifyRules(m)
	if rules.Tag == models.ReplyBounce || rules.Rule == "header" {
		return rules, nil
	}
	res, err := l.ask(ctx, m)
	if err != nil {
		l.log().WarnContext(ctx, "LLM classification failed; using the rules", "error", err)
		return rules, nil
	}
	return res, nil
}

type chatRequest struct {
	Model          string         `json:"model"`
	Messages       []chatMessage  `json:"messages"`
	Temperature    float64        `json:"temperature"`
	ResponseFormat map[string]any `json:"response_format,omitempty"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatResponse struct {
	Choices []struct {
		Message chatMessage `json:"message"`
	} `json:"choices"`
}

type llmAnswer struct {
	Tag        string  `json:"tag"`
	ReturnDate *string `json:"return_date"`
}

func (l *LLM) endpoint() string {
	u := strings.TrimRight(strings.TrimSpace(l.BaseURL), "/")
	if strings.HasSuffix(u, "/chat/completions") {
		return u
	}
	return u + "/chat/completions"
}

func (l *LLM) ask(ctx context.Context, m *Message) (Result, error) {
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	text := m.Reply
	if len(text) > maxLLMText {
		text = clean(text, maxLLMText)
	}
	date := "unknown"
	if !m.Date.IsZero() {
		date = m.Date.Format("Monday 2006-01-02 15:04 -0700")
	}
	body, err := json.Marshal(chatRequest{
		Model:          l.Model,
		Temperature:    0,
		ResponseFormat: map[string]any{"type": "json_object"},
		Messages: []chatMessage{
			{Role: "system", Content: llmPrompt},
			{Role: "user", Content: "Message date: " + date + "\nSubject: " + m.Subject + "\n\n" + text},
		},
	})
	if err != nil {
		return Result{}, fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.endpoint(), bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if l.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+l.APIKey)
	}
	hc := l.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("call %s: %w", l.endpoint(), err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Result{}, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Result{}, fmt.Errorf("LLM endpoint answered %s: %s", resp.Status, clean(string(raw), 200))
	}
	var cr chatResponse
	if err := json.Unmarshal(raw, &cr); err != nil || len(cr.Choices) == 0 {
		return Result{}, fmt.Errorf("LLM answer is not a chat completion (%d bytes)", len(raw))
	}
	content := strings.TrimSpace(cr.Choices[0].Message.Content)
	// Some models wrap JSON in a code fence despite response_format.
	content = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(content, "```json"), "```"), "```")
	var a llmAnswer
	if err := json.Unmarshal([]byte(strings.TrimSpace(content)), &a); err != nil {
		// Not quoted: the answer may repeat the reply's text.
		return Result{}, fmt.Errorf("LLM answer is not the JSON asked for (%d bytes)", len(content))
	}
	tag := strings.TrimSpace(strings.ToLower(a.Tag))
	if tag == models.ReplyBounce || !slices.Contains(models.ReplyTags, tag) {
		return Result{}, errors.New("LLM answered an unknown tag: " + clean(a.Tag, 50))
	}
	r := Result{Tag: tag, By: "llm", Rule: "model " + l.Model}
	if tag == models.ReplyOutOfOffice {
		if a.ReturnDate != nil {
			if t, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(*a.ReturnDate), locationOf(m)); err == nil &&
				t.After(m.Date) && t.Before(m.Date.AddDate(1, 1, 0)) {
				r.Until = &t
			}
		}
		if r.Until == nil {
			if t, ok := MessageReturnDate(m); ok {
				r.Until = &t
			}
		}
	}
	return r, nil
}

func locationOf(m *Message) *time.Location {
	if m.Date.IsZero() {
		return time.UTC
	}
	return m.Date.Location()
}

func (l *LLM) log() *slog.Logger {
	if l.Log != nil {
		return l.Log
	}
	return slog.New(slog.DiscardHandler)
}
