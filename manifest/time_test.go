package manifest

import (
	"strings"
	"testing"
	"time"
)

func TestFormatTime(t *testing.T) {
	at := func(ns int) time.Time { return time.Date(2026, 5, 5, 14, 11, 0, ns, time.UTC) }
	tests := []struct {
		in   time.Time
		want string
	}{
		{at(0), "2026-05-05T14:11:00Z"},
		{at(120_000_000), "2026-05-05T14:11:00.120Z"},
		{at(100_000_000), "2026-05-05T14:11:00.100Z"}, // .1 → .100
		{at(1_000_000), "2026-05-05T14:11:00.001Z"},
		{at(123_456_000), "2026-05-05T14:11:00.123456Z"},
		{at(120_000_100), "2026-05-05T14:11:00.120000100Z"},
		{at(123_456_789), "2026-05-05T14:11:00.123456789Z"},
		{at(1), "2026-05-05T14:11:00.000000001Z"},
		{at(1000), "2026-05-05T14:11:00.000001Z"},
		{time.Date(2026, 5, 5, 16, 11, 0, 0, time.FixedZone("CEST", 2*3600)), "2026-05-05T14:11:00Z"},
		{time.Date(2026, 1, 1, 0, 30, 0, 500_000_000, time.FixedZone("", 3600)), "2025-12-31T23:30:00.500Z"},
		{time.Date(7, 2, 3, 4, 5, 6, 0, time.UTC), "0007-02-03T04:05:06Z"},
		{time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC), "9999-12-31T23:59:59.999999999Z"},
	}
	for _, tt := range tests {
		if got := FormatTime(tt.in); got != tt.want {
			t.Errorf("FormatTime(%v) = %s, want %s", tt.in, got, tt.want)
		}
		back, err := ParseTime(tt.want)
		if err != nil || !back.Equal(tt.in) || back.Location() != time.UTC {
			t.Errorf("ParseTime(%s) = %v, %v", tt.want, back, err)
		}
	}
}

func TestParseTime(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	good := []struct {
		in   string
		want time.Time
	}{
		{"2026-05-05T14:11:00Z", utc(2026, 5, 5, 14, 11, 0, 0)},
		{"2026-05-05t14:11:00z", utc(2026, 5, 5, 14, 11, 0, 0)},
		{"2026-05-05T14:11:00.12Z", utc(2026, 5, 5, 14, 11, 0, 120_000_000)},
		{"2026-05-05T14:11:00.1234567891Z", utc(2026, 5, 5, 14, 11, 0, 123_456_789)},
		{"2026-05-05T16:11:00+02:00", utc(2026, 5, 5, 14, 11, 0, 0)},
		{"2026-05-05T09:41:00.5-04:30", utc(2026, 5, 5, 14, 11, 0, 500_000_000)},
		{"2026-05-05T14:11:00-00:00", utc(2026, 5, 5, 14, 11, 0, 0)},
		{"2024-02-29T00:00:00Z", utc(2024, 2, 29, 0, 0, 0, 0)},
	}
	for _, tt := range good {
		got, err := ParseTime(tt.in)
		if err != nil {
			t.Errorf("ParseTime(%q): %v", tt.in, err)
			continue
		}
		if !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	bad := []struct{ in, want string }{
		{"", "not RFC 3339"},
		{"2026-05-05", "not RFC 3339"},
		{"2026-05-05 14:11:00Z", "not RFC 3339"},
		{"2026-05-05T14:11:00", "not RFC 3339"},
		{"2026-05-05T14:11:00,5Z", "not RFC 3339"},
		{"2026-05-05T14:11:00.Z", "no digits after the decimal point"},
		{"2026-05-05T14:11:00+0200", "not RFC 3339"},
		{"2026-05-05T14:11:00+24:00", "offset +24:00 out of range"},
		{"2026-13-05T14:11:00Z", "month 13 out of range"},
		{"2026-02-29T14:11:00Z", "day 29 out of range"},
		{"2026-05-05T24:00:00Z", "hour 24 out of range"},
		{"2026-05-05T14:60:00Z", "minute 60 out of range"},
		{"2026-12-31T23:59:60Z", "leap second"},
		{"+2026-05-05T14:11:00Z", "not RFC 3339"},
		{"2026-05-05T14:11:00Z ", "not RFC 3339"},
	}
	for _, tt := range bad {
		_, err := ParseTime(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseTime(%q) error = %v, want %q", tt.in, err, tt.want)
		}
	}
}
