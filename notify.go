package healthcode

import (
	"context"
	"math/rand/v2"
	"time"
)

// Notification kinds.
const (
	NotifyStatusChanged     = "status_changed"
	NotifyAppealDecided     = "appeal_decided"
	NotifyContactDesignated = "contact_designated"
)

// Delivery is a notification waiting in the webhook outbox.
type Delivery struct {
	Notification Notification
	Attempts     int    // failed attempts so far
	Phone        string // where to send an SMS: the resident's phone, or their guardian's; may be empty
}

// OutboxService hands notifications to the webhook worker. Delivery is at
// least once: a notification is handed out again until it is marked
// delivered, so receivers deduplicate by its id.
type OutboxService interface {
	// ClaimDeliveries returns up to limit notifications due for delivery and
	// holds them for lease, so that other workers skip them meanwhile.
	ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]Delivery, error)
	// MarkDelivered records that the receiver acknowledged the notification.
	MarkDelivered(ctx context.Context, notificationID int64) error
	// MarkDeliveryFailed records a failed attempt and when to try again.
	MarkDeliveryFailed(ctx context.Context, notificationID int64, problem string, retryAt time.Time) error
}

// RetryBackoff is how long an outbox worker waits before attempt (2 for
// the first retry): minWait doubled per earlier failure, at most maxWait,
// less up to a fifth at random so that retries from many rows spread out.
// The webhook and the contact-notice workers share it.
func RetryBackoff(minWait, maxWait time.Duration, attempt int) time.Duration {
	d := minWait
	for i := 1; i < attempt && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}
