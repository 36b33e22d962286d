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
	for _, in := range []string{"", "soon", "2", "h", "-2h", "2y", "1.5", "2026-13-01", "2026-11-31", "27.11.2026",
		"2026-11-27T25:00", "99999999999999w", "2026-11-27T10:00:00Q"} {
		_, err := parseWhen(in, now, berlin)
		if err == nil || !strings.Contains(err.Error(), "RFC 3339") || !strings.Contains(err.Error(), "yesterday") {
			t.Errorf("parseWhen(%q): %v, want an error listing the forms", in, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in          string
		bareSeconds bool
		want        time.Duration
	}{
		{"90s", false, 90 * time.Second},
		{"1h30m", false, 90 * time.Minute},
		{"30m1h", false, 90 * time.Minute},
		{"1.5h", false, 90 * time.Minute},
		{"500ms", false, 500 * time.Millisecond},
		{"2d", false, 48 * time.Hour},
		{"1w2d", false, 9 * 24 * time.Hour},
		{" 2h ", false, 2 * time.Hour},
		{"0", true, 0},
		{"5", true, 5 * time.Second},
		{"0.25", true, 250 * time.Millisecond},
		{"10s", true, 10 * time.Second},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in, tt.bareSeconds)
		if err != nil || got != tt.want {
			t.Errorf("parseDuration(%q, %v) = %v, %v; want %v", tt.in, tt.bareSeconds, got, err, tt.want)
		}
	}
	for _, tt := range []struct {
		in          string
		bareSeconds bool
	}{{"", true}, {"5", false}, {"-5", true}, {"-2h", false}, {"h", false}, {"2y", false}, {"2 h", false},
		{"1e3", true}, {"NaN", true}, {"Inf", true}, {"99999999999999w", false}, {"1h-30m", false}} {
		_, err := parseDuration(tt.in, tt.bareSeconds)
		if err == nil || !strings.Contains(err.Error(), "1h30m") {
			t.Errorf("parseDuration(%q, %v): %v, want an error listing the forms", tt.in, tt.bareSeconds, err)
		}
	}
}
