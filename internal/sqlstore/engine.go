package sqlstore

import (
	"database/sql"
	"strconv"
	"strings"

	"healthcode"
)

// engine is what differs between SQLite and PostgreSQL. The queries do not:
// both take $N placeholders, INSERT ... RETURNING, ON CONFLICT and the same
// column types as far as database/sql can tell. (Long generated parameter
// lists are the exception: see positional. The bulk loaders of bulk.go use
// each engine's fastest way.)
type engine struct {
	name string // "sqlite" or "postgres"; also the migrations directory
	// readOnly is how read-only transactions begin.
	readOnly sql.TxOptions
	// forUpdate is appended to a SELECT to lock the rows it returns until the
	// transaction ends. SQLite needs none: its writers are serialized.
	forUpdate string
	// lockPaperCodes, when set, is run to make the writers of paper codes
	// take turns, so that two of them never pick the same next status index
	// (reads go on). SQLite needs none: its writers are serialized.
	lockPaperCodes string
	// violation reports the constraint (a unique index name from the
	// migrations) that err violated, if err is a unique violation.
	violation func(err error) (constraint string, ok bool)
	// transient reports whether retrying the transaction may succeed.
	transient func(err error) bool
	// translate turns a driver error into a *healthcode.Error where the
	// caller can do something about it; other errors come back unchanged.
	translate func(err error) error
	// positional makes the long generated parameter lists (multi-row
	// INSERTs, IN lists) anonymous "?" instead of "$N". SQLite keeps "$N"
	// names in a list it searches linearly, when parsing each one and when
	// modernc.org/sqlite binds each argument: a statement with thousands of
	// them spends most of its time there (BenchmarkBulkInsertCheckIns). "?"
	// is numbered one after the parameter before it, so a "?" list must
	// follow $1 ... $(first-1) and nothing may follow it.
	positional bool
}

// placeholderList returns n parameters numbered from first: "$3, $4, $5",
// or "?, ?, ?" where the engine prefers them (see positional).
func (e *engine) placeholderList(first, n int) string {
	var b strings.Builder
	b.Grow(n * 4)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		if e.positional {
			b.WriteByte('?')
		} else {
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(first + i))
		}
	}
	return b.String()
}

// placeholders returns the VALUES rows of a multi-row INSERT of rows rows of
// cols columns, numbered from 1: "($1, $2), ($3, $4)".
func (e *engine) placeholders(rows, cols int) string {
	var b strings.Builder
	b.Grow(rows * (cols*4 + 4))
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		b.WriteString(e.placeholderList(r*cols+1, cols))
		b.WriteByte(')')
	}
	return b.String()
}

// conflictMessages says what a unique violation means to the caller, by
// constraint. Methods with more context (CreateResident) say more.
var conflictMessages = map[string]string{
	constraintDocument:        "a resident with this ID document number is already enrolled",
	constraintPhone:           "this phone number is already registered",
	"sessions_hash_key":       "this session already exists",
	"api_tokens_hash_key":     "a token with this secret already exists",
	"token_venues_pkey":       "the token is already scoped to this venue",
	constraintStatusIndex:     "this status-list index is already taken",
	"paper_codes_current_key": "the resident already has an unrevoked paper code",
	constraintRecovery:        "this certificate is already imported",
}

// Unique indexes the code reacts to, named as in the migrations.
const (
	constraintDocument  = "residents_document_key"
	constraintPhone     = "residents_phone_key"
	constraintPseudonym = "residents_pseudonym_key"
	constraintRecovery  = "recoveries_resident_id_source_certificate_id_key" // PostgreSQL's name for the UNIQUE in 0011
)

func conflictError(constraint string) *healthcode.Error {
	if msg, ok := conflictMessages[constraint]; ok {
		return healthcode.Errorf(healthcode.ECONFLICT, "%s", msg)
	}
	return healthcode.Errorf(healthcode.ECONFLICT, "this record already exists")
}

func missingReferenceError() *healthcode.Error {
	return healthcode.Errorf(healthcode.EINVALID, "refers to a record that does not exist")
}

func rejectedValueError() *healthcode.Error {
	return healthcode.Errorf(healthcode.EINVALID, "a value was rejected by the database")
}

func busyError() *healthcode.Error {
	return healthcode.Errorf(healthcode.EUNAVAILABLE, "the database is busy; try again")
}
