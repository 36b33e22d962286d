package manifest

import (
	"fmt"
	"time"
)

// FormatTime formats t as the manifest's created_at: RFC 3339 in UTC with a
// literal Z, no fractional second when it is zero and otherwise 3, 6 or 9
// digits, the fewest that hold the value exactly. This is what the
// reference's chrono writes; time.RFC3339Nano trims zeros one at a time
// (".12Z" where the format wants ".120Z") and would change the image id.
//
// Years outside 0000-9999 have no RFC 3339 form; Manifest.Validate refuses
// them, and FormatTime's output for them is unspecified.
func FormatTime(t time.Time) string {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	b := make([]byte, 0, len("2006-01-02T15:04:05.000000000Z"))
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	switch ns := t.Nanosecond(); {
	case ns == 0:
	case ns%1e6 == 0:
		b = append(b, '.')
		b = appendDigits(b, ns/1e6, 3)
	case ns%1e3 == 0:
		b = append(b, '.')
		b = appendDigits(b, ns/1e3, 6)
	default:
		b = append(b, '.')
		b = appendDigits(b, ns, 9)
	}
	return string(append(b, 'Z'))
}

// appendDigits appends the decimal digits of a non-negative n, zero-padded
// to width.
func appendDigits(b []byte, n, width int) []byte {
	var buf [20]byte
	i := len(buf)
	for n >= 10 || width > 1 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		width--
	}
	i--
	buf[i] = byte('0' + n%10)
	return append(b, buf[i:]...)
}

// ParseTime parses an RFC 3339 timestamp (section 5.6: "T" or "t", a
// fractional second of any length, "Z", "z" or a numeric offset) and
// returns it in UTC. Unlike time.Parse it refuses what RFC 3339 does not
// allow, such as a comma before the fraction or a one-digit hour. Digits
// beyond nanoseconds are dropped. A leap second (:60) is refused because
// time.Time cannot hold it.
func ParseTime(s string) (time.Time, error) {
	t, problem := parseTime(s)
	if problem != "" {
		return time.Time{}, fmt.Errorf("invalid time %s: %s", quote(s), problem)
	}
	return t, nil
}

func parseTime(s string) (time.Time, string) {
	const notRFC3339 = "not RFC 3339 (want 2006-01-02T15:04:05Z, with an optional fraction and a Z or ±hh:mm offset)"
	// Fixed-width fields: YYYY-MM-DDThh:mm:ss
	if len(s) < len("2006-01-02T15:04:05Z") ||
		s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, notRFC3339
	}
	var field [6]int
	for i, pos := range [6][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}, {17, 19}} {
		n, ok := atoi(s[pos[0]:pos[1]])
		if !ok {
			return time.Time{}, notRFC3339
		}
		field[i] = n
	}
	year, month, day, hour, minute, sec := field[0], field[1], field[2], field[3], field[4], field[5]
	switch {
	case month < 1 || month > 12:
		return time.Time{}, fmt.Sprintf("month %02d out of range", month)
	case day < 1 || day > daysIn(year, month):
		return time.Time{}, fmt.Sprintf("day %02d out of range for %04d-%02d", day, year, month)
	case hour > 23:
		return time.Time{}, fmt.Sprintf("hour %02d out of range", hour)
	case minute > 59:
		return time.Time{}, fmt.Sprintf("minute %02d out of range", minute)
	case sec == 60:
		return time.Time{}, "leap second not supported"
	case sec > 59:
		return time.Time{}, fmt.Sprintf("second %02d out of range", sec)
	}

	rest := s[19:]
	nsec := 0
	if rest[0] == '.' {
		i := 1
		for i < len(rest) && '0' <= rest[i] && rest[i] <= '9' {
			if i <= 9 {
				nsec = nsec*10 + int(rest[i]-'0')
			}
			i++
		}
		if i == 1 {
			return time.Time{}, "no digits after the decimal point"
		}
		for n := i; n <= 9; n++ {
			nsec *= 10
		}
		rest = rest[i:]
	}

	offset := 0 // seconds east of UTC
	switch {
	case rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := atoi(rest[1:3])
		om, ok2 := atoi(rest[4:6])
		if !ok1 || !ok2 {
			return time.Time{}, notRFC3339
		}
		if oh > 23 || om > 59 {
			return time.Time{}, fmt.Sprintf("offset %s out of range", rest)
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, notRFC3339
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), ""
}

// atoi parses a short run of ASCII digits; signs and spaces are refused.
func atoi(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(year, month int) int {
	// The day before the first of the next month; time.Date normalises.
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
