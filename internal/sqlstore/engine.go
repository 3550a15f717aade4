package sqlstore

import (
	"database/sql"

	"healthcode"
)

// engine is what differs between SQLite and PostgreSQL. The queries do not:
// both take $N placeholders, INSERT ... RETURNING, ON CONFLICT and the same
// column types as far as database/sql can tell.
type engine struct {
	name string // "sqlite" or "postgres"; also the migrations directory
	// readOnly is how read-only transactions begin.
	readOnly sql.TxOptions
	// forUpdate is appended to a SELECT to lock the rows it returns until the
	// transaction ends. SQLite needs none: its writers are serialized.
	forUpdate string
	// violation reports the constraint (a unique index name from the
	// migrations) that err violated, if err is a unique violation.
	violation func(err error) (constraint string, ok bool)
	// transient reports whether retrying the transaction may succeed.
	transient func(err error) bool
	// translate turns a driver error into a *healthcode.Error where the
	// caller can do something about it; other errors come back unchanged.
	translate func(err error) error
}

// conflictMessages says what a unique violation means to the caller, by
// constraint. Methods with more context (CreateResident) say more.
var conflictMessages = map[string]string{
	constraintDocument:    "a resident with this ID document number is already enrolled",
	constraintPhone:       "this phone number is already registered",
	"sessions_hash_key":   "this session already exists",
	"api_tokens_hash_key": "a token with this secret already exists",
}

// Unique indexes the code reacts to, named as in the migrations.
const (
	constraintDocument  = "residents_document_key"
	constraintPhone     = "residents_phone_key"
	constraintPseudonym = "residents_pseudonym_key"
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
