package bench

import (
	"fmt"
	"math"
	"strconv"

	"github.com/dustin/go-humanize"
)

// How figures are written for people: three significant digits, units
// that keep the number between 1 and 1000.

// commas writes n with thousands separated: 10,000.
func commas(n int) string {
	if n < 0 {
		return "-" + commas(-n)
	}
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// sizeName writes a power-of-two size the way the workloads are named:
// 16 KiB, 4 MiB, 1 GiB.
func sizeName(n int64) string {
	for _, u := range []struct {
		name  string
		bytes int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.bytes && n%u.bytes == 0 {
			return fmt.Sprintf("%d %s", n/u.bytes, u.name)
		}
	}
	return fmtBytes(n)
}

// sig3 writes v with three significant digits (more before the point
// when it is large).
func sig3(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a == 0:
		return "0"
	case a >= 0.1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// fmtDuration writes seconds as ns, µs, ms, s or minutes.
func fmtDuration(s float64) string {
	switch {
	case s >= 120:
		m := math.Floor(s / 60)
		return fmt.Sprintf("%.0fm%02.0fs", m, s-60*m)
	case s >= 1:
		return sig3(s) + " s"
	case s >= 1e-3:
		return sig3(s*1e3) + " ms"
	case s >= 1e-6:
		return sig3(s*1e6) + " µs"
	}
	return sig3(s*1e9) + " ns"
}

// fmtBytes writes a byte count in binary units: "512 B", "1.8 MiB".
func fmtBytes(n int64) string {
	if n < 0 {
		return "-" + humanize.IBytes(uint64(-n))
	}
	return humanize.IBytes(uint64(n))
}

// fmtRate writes bytes per second in decimal megabytes, as disks and
// hashes are quoted.
func fmtRate(bytesPerSecond float64) string {
	if bytesPerSecond >= 1e9 {
		return sig3(bytesPerSecond/1e9) + " GB/s"
	}
	return sig3(bytesPerSecond/1e6) + " MB/s"
}

// fmtRatio writes a ratio as 12.3×.
func fmtRatio(r float64) string {
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return "—"
	}
	return sig3(r) + "×"
}
