package store

import (
	"database/sql/driver"
	"fmt"
	"strings"

	sqlitedriver "github.com/glebarez/go-sqlite"
)

// SQLite's own lower() folds ASCII letters only, while addresses are
// lower-cased in Go (strings.ToLower) before they are compared with
// lower(contact_email) or lower(recipient): "Ünal@…" stayed "Ünal@…" on
// the database's side, so a suppression of "ünal@…" flagged no lead, and
// deleting it left the lead flagged (never dispatched again). Every SQLite
// connection gets Go's lower-casing under the same name instead, as
// PostgreSQL's lower() does with a UTF-8 locale. It is deterministic, as
// the expression indexes on lower() need; migration 00011 rebuilds them
// for rows stored before.
func init() {
	sqlitedriver.MustRegisterDeterministicScalarFunction("lower", 1, func(_ *sqlitedriver.FunctionContext, args []driver.Value) (driver.Value, error) {
		switch v := args[0].(type) {
		case nil:
			return nil, nil
		case string:
			return strings.ToLower(v), nil
		case []byte:
			return strings.ToLower(string(v)), nil
		default:
			return fmt.Sprint(v), nil
		}
	})
}
