package dcc

import (
	"strings"
	"time"

	"healthcode"
)

// timeLayouts are the spellings ParseTime tries. Go's parser accepts a
// fractional second of any length after the seconds even when the layout
// has none, so "2021-05-30T13:38:49.798329" and ".1234567" match too.
var timeLayouts = []string{
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05Z07",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04Z0700",
	"2006-01-02T15:04",
	"2006-01-02",
}

// ParseTime reads a validation clock as the DCC test vectors and people
// write it: ISO 8601 date and time, with a "T" or a space between them, with
// or without seconds and a fraction of any length, and with a zone of "Z",
// "+02:00", "+0200" or "+02", or none, which means UTC. A date alone means
// its midnight UTC.
func ParseTime(s string) (time.Time, error) {
	v := strings.ToUpper(strings.TrimSpace(s))
	if len(v) > 10 && v[10] == ' ' {
		v = v[:10] + "T" + v[11:]
	}
	v = strings.Replace(v, " ", "", 1) // "2021-05-03T18:00:00 +02:00"
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, healthcode.Errorf(healthcode.EINVALID, "%q is not a date and time such as 2021-05-03T18:00:00Z, 2021-05-03T20:00:00+0200 or 2021-05-03 18:00", s)
}
