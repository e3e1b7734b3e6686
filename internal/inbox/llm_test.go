package inbox

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backlinkoutreach/outreach/internal/config"
	"github.com/backlinkoutreach/outreach/models"
)

// fakeOpenAI speaks the chat completions protocol; answer decides the
// assistant's content (or the raw HTTP reply) per request.
type fakeOpenAI struct {
	mu       sync.Mutex
	requests []chatRequest
	auth     []string
	answer   func(req chatRequest) (status int, body string)
}

func (f *fakeOpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
		return
	}
	var req chatRequest
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &req); err != nil {
		http.Error(w, `{"error":{"message":"bad json"}}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	answer := f.answer
	f.mu.Unlock()
	status, body := answer(req)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func completion(content string) string {
	b, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
		"choices": []any{map[string]any{
			"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": content},
		}},
	})
	return string(b)
}

func TestLLMClassifier(t *testing.T) {
	t.Parallel()
	fake := &fakeOpenAI{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	cfg, err := config.LoadFrom(func(k string) (string, bool) {
		switch k {
		case "LLM_BASE_URL":
			return srv.URL + "/v1/", true
		case "LLM_API_KEY":
			return "sk-test", true
		case "LLM_MODEL":
			return "tiny-model", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	llm, ok := NewClassifier(cfg, nil).(*LLM)
	if !ok {
		t.Fatal("LLM_BASE_URL set but the rules were chosen")
	}
	llm.Timeout = 2 * time.Second
	ctx := context.Background()
	msg := Parse(crlf("From: ed@site.example\nSubject: Re: Guest post\nDate: Wed, 12 Mar 2025 09:00:00 +0000\n\n" +
		"Hmm, we might do it if the topic is right.\n\nOn Mon, Dana wrote:\n> Would you be interested? No fee on either side."))

	// A well-formed answer decides the tag.
	fake.answer = func(chatRequest) (int, string) { return 200, completion(`{"tag": "interested", "return_date": null}`) }
	r, err := llm.Classify(ctx, msg)
	if err != nil || r.Tag != models.ReplyInterested || r.By != "llm" {
		t.Fatalf("classified %+v %v", r, err)
	}
	req := fake.requests[0]
	user := req.Messages[len(req.Messages)-1].Content
	if req.Model != "tiny-model" || fake.auth[0] != "Bearer sk-test" || !strings.Contains(user, "we might do it") ||
		strings.Contains(user, "No fee on either side") || !strings.Contains(user, "2025-03-12") {
		t.Fatalf("request model=%q auth=%q user message=%q", req.Model, fake.auth[0], user)
	}

	// An out-of-office answer keeps the model's return date.
	fake.answer = func(chatRequest) (int, string) {
		return 200, completion("```json\n{\"tag\": \"out_of_office\", \"return_date\": \"2025-03-20\"}\n```")
	}
	r, _ = llm.Classify(ctx, msg)
	if r.Tag != models.ReplyOutOfOffice || r.Until == nil || r.Until.Format("2006-01-02") != "2025-03-20" {
		t.Fatalf("out of office: %+v", r)
	}

	// Every failure falls back to the rules (which read this as neutral).
	failures := map[string]func(chatRequest) (int, string){
		"server error":    func(chatRequest) (int, string) { return 500, `{"error":{"message":"overloaded"}}` },
		"rate limited":    func(chatRequest) (int, string) { return 429, `{"error":{"message":"slow down"}}` },
		"not json":        func(chatRequest) (int, string) { return 200, completion("I think they are interested.") },
		"unknown tag":     func(chatRequest) (int, string) { return 200, completion(`{"tag": "maybe"}`) },
		"bounce from llm": func(chatRequest) (int, string) { return 200, completion(`{"tag": "bounce"}`) },
		"no choices":      func(chatRequest) (int, string) { return 200, `{"choices": []}` },
		"timeout": func(chatRequest) (int, string) {
			time.Sleep(3 * time.Second)
			return 200, completion(`{"tag": "interested"}`)
		},
	}
	for name, answer := range failures {
		fake.mu.Lock()
		fake.answer = answer
		fake.mu.Unlock()
		start := time.Now()
		r, err := llm.Classify(ctx, msg)
		if err != nil || r.By != "rules" || r.Tag != models.ReplyNeutral {
			t.Errorf("%s: %+v %v, want the rules' answer", name, r, err)
		}
		if time.Since(start) > 2500*time.Millisecond {
			t.Errorf("%s: took %v, longer than the timeout", name, time.Since(start))
		}
	}

	// Header facts never reach the model.
	fake.mu.Lock()
	before := len(fake.requests)
	fake.mu.Unlock()
	for _, file := range []string{"bnc-01-postfix-user-unknown.eml", "ooo-01-until-monday-10-march.eml"} {
		r, err := llm.Classify(ctx, Parse(readCorpus(t, file)))
		if err != nil || r.By != "rules" {
			t.Errorf("%s: %+v %v", file, r, err)
		}
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.requests) != before {
		t.Errorf("a delivery report or an automatic reply was sent to the model")
	}

	// Without LLM_BASE_URL the rules classify.
	plain, _ := config.LoadFrom(func(string) (string, bool) { return "", false })
	if _, ok := NewClassifier(plain, nil).(Rules); !ok {
		t.Error("no LLM configured, but the rules were not chosen")
	}
}
