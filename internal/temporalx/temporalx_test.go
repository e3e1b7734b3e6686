package temporalx_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/backlinkoutreach/outreach/internal/devserver"
	"github.com/backlinkoutreach/outreach/internal/temporalx"
	"github.com/backlinkoutreach/outreach/models"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// startServer starts a headless Temporal dev server (ctx bounds the
// start) and stops it when the test ends.
func startServer(ctx context.Context, t *testing.T, o devserver.Options) *devserver.Server {
	t.Helper()
	o.Headless = true
	srv, err := devserver.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

func TestEnsureSearchAttributesAndHealth(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := startServer(ctx, t, devserver.Options{})
	c, err := temporalx.Dial(ctx, temporalx.Options{Address: srv.Address, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A namespace created now has none of the engine's attributes.
	ns := fmt.Sprintf("fresh-%d", time.Now().UnixNano())
	if _, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: ns, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	list := func() map[string]enums.IndexedValueType {
		resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetCustomAttributes()
	}
	if _, ok := list()["LeadStatus"]; ok {
		t.Fatal("a fresh namespace already has LeadStatus; the test proves nothing")
	}
	for i := range 2 { // the second run must be a no-op
		if err := temporalx.EnsureSearchAttributes(ctx, c, ns); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	got := list()
	for _, name := range temporalx.SearchAttributes {
		if got[name] != enums.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("%s = %v, want Keyword", name, got[name])
		}
	}
	if err := temporalx.Check(c)(ctx); err != nil {
		t.Errorf("health of a running server: %v", err)
	}
}

func TestUnreachableServerIsUnavailable(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := temporalx.Dial(ctx, temporalx.Options{Address: addr, Namespace: "default"}); !errors.Is(err, models.ErrUnavailable) {
		t.Fatalf("dial of a dead server: %v, want ErrUnavailable", err)
	}
	lazy, err := temporalx.Lazy(temporalx.Options{Address: addr, Namespace: "default"})
	if err != nil {
		t.Fatalf("a lazy client must not need the server: %v", err)
	}
	defer lazy.Close()
	cctx, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	err = temporalx.Classify(lazy.SignalWorkflow(cctx, "campaign/x", "", "launch", nil))
	if !errors.Is(err, models.ErrUnavailable) {
		t.Fatalf("signal through a lazy client to a dead server: %v, want ErrUnavailable", err)
	}
	if err := temporalx.Check(lazy)(cctx); !errors.Is(err, models.ErrUnavailable) {
		t.Fatalf("health of a dead server: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("failing took %s; callers need a fast answer", time.Since(start))
	}
}

func TestLazyClientConnectsWhenServerComesUp(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	lazy, err := temporalx.Lazy(temporalx.Options{Address: addr, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer lazy.Close()
	short, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := temporalx.Check(lazy)(short); err == nil {
		t.Fatal("health before the server exists")
	}
	ctx, cancel2 := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel2()
	host, port, _ := net.SplitHostPort(addr)
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	startServer(ctx, t, devserver.Options{IP: host, Port: p})
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, c3 := context.WithTimeout(ctx, 2*time.Second)
		err := temporalx.Check(lazy)(cctx)
		c3()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lazy client never recovered: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{serviceerror.NewUnavailable("down"), true},
		{fmt.Errorf("wrapped: %w", serviceerror.NewDeadlineExceeded("slow")), true},
		{context.DeadlineExceeded, true},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{serviceerror.NewNotFound("no such workflow"), false},
		{serviceerror.NewWorkflowExecutionAlreadyStarted("exists", "", ""), false},
		{errors.New("invalid argument"), false},
	}
	for _, tt := range tests {
		got := errors.Is(temporalx.Classify(tt.err), models.ErrUnavailable)
		if got != tt.want {
			t.Errorf("Classify(%v) unavailable = %v, want %v", tt.err, got, tt.want)
		}
		if !errors.Is(temporalx.Classify(tt.err), tt.err) {
			t.Errorf("Classify(%v) lost its cause", tt.err)
		}
	}
	if temporalx.Classify(nil) != nil {
		t.Error("Classify(nil) != nil")
	}
}
