package healthcode

import (
	"slices"
	"time"
)

// Role is what an API token (a device or an institution) may do. Residents
// are not a token role: they sign in with phone and password.
type Role string

// The roles of DESIGN.md section 3.
const (
	RoleAdmin      Role = "admin"
	RoleTracer     Role = "tracer"
	RoleLab        Role = "lab"
	RoleCheckpoint Role = "checkpoint"
	RoleVenue      Role = "venue"
	RoleReviewer   Role = "reviewer"
	RoleAuditor    Role = "auditor"
	// RoleResident is the role of a signed-in resident session; never a token's.
	RoleResident Role = "resident"
)

// TokenRoles lists the roles an API token may have.
var TokenRoles = []Role{RoleAdmin, RoleTracer, RoleLab, RoleCheckpoint, RoleVenue, RoleReviewer, RoleAuditor}

// ValidTokenRole reports whether r may be given to an API token.
func ValidTokenRole(r Role) bool { return slices.Contains(TokenRoles, r) }

// APIToken is a bearer token for a device or an institution. Only a hash of
// the secret is stored.
type APIToken struct {
	ID        int64
	Name      string
	Role      Role
	Hash      []byte // SHA-256 of the secret
	CreatedAt time.Time
	RevokedAt time.Time // zero while valid
}

// Session is a signed-in resident. Only a hash of the secret is stored.
type Session struct {
	ID         int64
	ResidentID int64
	Hash       []byte // SHA-256 of the secret
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// Actor is whoever makes a request: a resident session or an API token.
type Actor struct {
	Role       Role
	ResidentID int64  // for RoleResident
	TokenID    int64  // for token roles
	Name       string // the token's name, or "resident N"
}
