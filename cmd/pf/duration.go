package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// durationForms is what parseDuration accepts, for help texts and errors.
const durationForms = "90s, 1h30m, 500ms, 2d, 1w (units ms, s, m, h, d = 24h, w = 7d)"

// durationUnits are the units of a duration as people type them; a day
// is 24 hours, not a calendar day, so that 3d means the same span
// whatever the clocks did.
var durationUnits = []struct {
	name string
	unit time.Duration
}{
	// Longer names first: "ms" before "m" and "s".
	{"ms", time.Millisecond},
	{"s", time.Second},
	{"m", time.Minute},
	{"h", time.Hour},
	{"d", 24 * time.Hour},
	{"w", 7 * 24 * time.Hour},
}

// parseDuration reads a span of time as every flag of pf takes one
// (--timeout, --keep-within, and the "time ago" of --since and --until):
// numbers each followed by a unit, largest first or not (90s, 1h30m,
// 1.5h, 2d, 1w). A bare number is seconds where bareSeconds says seconds
// are obvious (--timeout 5). The error names the forms accepted.
func parseDuration(s string, bareSeconds bool) (time.Duration, error) {
	in := strings.TrimSpace(s)
	bad := func() (time.Duration, error) {
		forms := durationForms
		if bareSeconds {
			forms += ", or a number of seconds"
		}
		return 0, fmt.Errorf("invalid duration %q: use %s", s, forms)
	}
	if in == "" {
		return bad()
	}
	if bareSeconds {
		if f, err := strconv.ParseFloat(in, 64); err == nil && !strings.ContainsAny(in, "eEinfINFxX") {
			if f < 0 || f*float64(time.Second) > math.MaxInt64 {
				return bad()
			}
			return time.Duration(f * float64(time.Second)), nil
		}
	}
	var total float64
	for in != "" {
		n := 0
		for n < len(in) && (in[n] >= '0' && in[n] <= '9' || in[n] == '.') {
			n++
		}
		if n == 0 {
			return bad()
		}
		num, err := strconv.ParseFloat(in[:n], 64)
		if err != nil {
			return bad()
		}
		in = in[n:]
		matched := false
		for _, u := range durationUnits {
			if strings.HasPrefix(in, u.name) {
				total += num * float64(u.unit)
				in, matched = in[len(u.name):], true
				break
			}
		}
		if !matched || total > math.MaxInt64 {
			return bad()
		}
	}
	return time.Duration(total), nil
}

// defaultTimeout is how long a command waits for another pf process that
// holds the store: long enough for a snapshot of a large tree, as tools
// that run pf once per call from several windows need.
const defaultTimeout = 10 * time.Second

// timeoutValue is --timeout, read by parseDuration (a bare number is
// seconds).
type timeoutValue struct{ d time.Duration }

func (v *timeoutValue) Set(s string) error {
	d, err := parseDuration(s, true)
	if err == nil {
		v.d = d
	}
	return err
}

func (v *timeoutValue) String() string { return v.d.String() }
