package healthcode

import (
	"context"
	"time"
)

// TrustedPeer is another region whose codes this region accepts: where its
// signed trust list comes from and the last copy fetched (issue 8).
type TrustedPeer struct {
	Source    string // a file or an http(s) URL of the peer's trust list
	Region    string // the region the list is for
	List      []byte // the signed list as fetched
	ETag      string // to ask the source whether it changed
	FetchedAt time.Time
}

// PeerService keeps the trusted peers.
type PeerService interface {
	// PutTrustedPeer adds the peer or replaces its stored list: a refresh
	// keeping the copy it fetched, which is not audited.
	PutTrustedPeer(ctx context.Context, p *TrustedPeer) error
	// ListTrustedPeers returns the peers by source.
	ListTrustedPeers(ctx context.Context) ([]TrustedPeer, error)
	// AddTrustedPeer trusts the peer (or replaces its stored list) on the
	// orders of the actor ctx carries, recorded in the audit log in the same
	// transaction.
	AddTrustedPeer(ctx context.Context, p *TrustedPeer) error
	// RemoveTrustedPeer stops trusting the peer at source, recorded in the
	// audit log; ENOTFOUND when no peer has that source.
	RemoveTrustedPeer(ctx context.Context, source string) error
}
