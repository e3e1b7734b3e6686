package devserver

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
)

func TestStartRegistersSearchAttributes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s, err := Start(ctx, Options{Headless: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	c, err := client.DialContext(ctx, client.Options{HostPort: s.Address, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for name := range SearchAttributes {
		if resp.GetCustomAttributes()[name] != enums.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("search attribute %s not registered as Keyword: %v", name, resp.GetCustomAttributes()[name])
		}
	}
	s.Stop()
	select {
	case <-s.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop")
	}
}
