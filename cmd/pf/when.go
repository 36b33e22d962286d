package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/processfork/pf/manifest"
)

// timeForms is what parseWhen accepts, for help texts and its error.
const timeForms = "RFC 3339 (2026-11-27T10:00:00Z, 2026-11-27T10:00:00+01:00), a date (2026-11-27), " +
	"a local date-time (2026-11-27T10:00, 2026-11-27 10:00:05), time ago (90s, 1h30m, 2h, 3d, 1w) " +
	"or now, today, yesterday; dates and date-times without a zone are local time"

// timeHelp is timeForms laid out for a command's help.
const timeHelp = "one of:\n" +
	"  RFC 3339          2026-11-27T10:00:00Z, 2026-11-27T10:00:00.5+01:00\n" +
	"  a date            2026-11-27 (local midnight)\n" +
	"  a local time      2026-11-27T10:00, 2026-11-27 10:00:05\n" +
	"  time ago          90s, 1h30m, 2h, 3d, 1w (also \"2h ago\")\n" +
	"  a word            now, today, yesterday (local midnights)"

// localLayouts are the date and date-time forms without a zone, read in
// local time as people mean them.
var localLayouts = []string{
	"2006-01-02",
	"2006-01-02T15:04",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05.999999999",
}

// parseWhen reads a point in time as a person types it on the command
// line, relative to now and in the location loc: see timeForms.
// "yesterday" and "today" are the local midnights that start those days.
func parseWhen(s string, now time.Time, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	midnight := func(days int) time.Time {
		y, m, d := now.In(loc).Date()
		return time.Date(y, m, d+days, 0, 0, 0, 0, loc)
	}
	switch strings.ToLower(s) {
	case "now":
		return now, nil
	case "today":
		return midnight(0), nil
	case "yesterday":
		return midnight(-1), nil
	}
	if d, ok := parseAgo(s); ok {
		return now.Add(-d), nil
	}
	if t, err := manifest.ParseTime(s); err == nil {
		return t, nil
	}
	for _, layout := range localLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q: use %s", s, timeForms)
}

// parseAgo reads a span such as 90m, 1h30m or "3d ago" (see
// parseDuration).
func parseAgo(s string) (time.Duration, bool) {
	d, err := parseDuration(strings.TrimSuffix(strings.TrimSpace(s), " ago"), false)
	return d, err == nil
}
