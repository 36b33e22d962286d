package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseWhen(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	now := time.Date(2026, 11, 27, 0, 30, 0, 0, time.UTC) // 01:30 in berlin
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2026-11-27T10:00:00Z", time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)},
		{"2026-11-27T10:00:00.25+02:00", time.Date(2026, 11, 27, 8, 0, 0, 250e6, time.UTC)},
		{"2026-11-27", time.Date(2026, 11, 27, 0, 0, 0, 0, berlin)},
		{"2026-11-27T10:00", time.Date(2026, 11, 27, 10, 0, 0, 0, berlin)},
		{"2026-11-27T10:00:05", time.Date(2026, 11, 27, 10, 0, 5, 0, berlin)},
		{"2026-11-27T10:00:05.5", time.Date(2026, 11, 27, 10, 0, 5, 500e6, berlin)},
		{"2026-11-27 10:00", time.Date(2026, 11, 27, 10, 0, 0, 0, berlin)},
		{"2026-11-27 10:00:05", time.Date(2026, 11, 27, 10, 0, 5, 0, berlin)},
		{"90s", now.Add(-90 * time.Second)},
		{"90m", now.Add(-90 * time.Minute)},
		{"2h", now.Add(-2 * time.Hour)},
		{"3d", now.Add(-72 * time.Hour)},
		{"1w", now.Add(-7 * 24 * time.Hour)},
		{"0m", now},
		{"2h ago", now.Add(-2 * time.Hour)},
		{" 3d ", now.Add(-72 * time.Hour)},
		{"now", now},
		// In berlin it is already the 27th: today and yesterday are its
		// midnights, not UTC's.
		{"today", time.Date(2026, 11, 27, 0, 0, 0, 0, berlin)},
		{"yesterday", time.Date(2026, 11, 26, 0, 0, 0, 0, berlin)},
		{"Yesterday", time.Date(2026, 11, 26, 0, 0, 0, 0, berlin)},
	}
	for _, tt := range tests {
		got, err := parseWhen(tt.in, now, berlin)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "soon", "2", "h", "-2h", "2y", "1.5h", "2026-13-01", "2026-11-31", "27.11.2026",
		"2026-11-27T25:00", "99999999999999w", "2026-11-27T10:00:00Q"} {
		_, err := parseWhen(in, now, berlin)
		if err == nil || !strings.Contains(err.Error(), "RFC 3339") || !strings.Contains(err.Error(), "yesterday") {
			t.Errorf("parseWhen(%q): %v, want an error listing the forms", in, err)
		}
	}
}
