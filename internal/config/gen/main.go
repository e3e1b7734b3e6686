// Command gen writes .env.example from the Config struct.
package main

import (
	"fmt"
	"os"

	"github.com/backlinkoutreach/outreach/internal/config"
)

func main() {
	if err := os.WriteFile(".env.example", []byte(config.EnvExample()), 0o644); err != nil { //nolint:gosec // a documentation file
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
