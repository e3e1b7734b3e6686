// Command outreach is the Backlink Outreach Engine: the HTTP API, the
// Temporal worker, schema migrations, user and key administration, and the
// all-in-one dev stack, as subcommands of one binary.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // campaign time zones work on hosts without a zone database

	"github.com/spf13/cobra"

	"github.com/backlinkoutreach/outreach/internal/config"
	"github.com/backlinkoutreach/outreach/internal/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := newRoot(os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "outreach:", err)
		os.Exit(1)
	}
}

// env is what every subcommand starts from.
type env struct {
	cfg    config.Config
	log    *slog.Logger
	stdout io.Writer
	stderr io.Writer
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	e := &env{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "outreach",
		Short:         "Backlink Outreach Engine: pitch websites for guest posts, safely",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load()
			if err != nil {
				return err
			}
			e.cfg = cfg
			e.log = logging.New(stderr, cfg.LogLevel, cfg.LogFormat)
			slog.SetDefault(e.log)
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serveCmd(e), workerCmd(e), devCmd(e), migrateCmd(e), usersCmd(e), keysCmd(e))
	return root
}
