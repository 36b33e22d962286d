package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/dustin/go-humanize"
	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// writeTable writes rows with their columns aligned, two spaces apart.
// The last cell of a row is not padded, and trailing blanks are cut.
func writeTable(w io.Writer, rows [][]string) error {
	var widths []int
	for _, row := range rows {
		for i, cell := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	// One buffer for the whole table: the process starts on fresh pages,
	// and a buffer per line touches a new one every few rows.
	lineLen := 1
	for _, w := range widths {
		lineLen += w + 2
	}
	b := make([]byte, 0, len(rows)*lineLen)
	for _, row := range rows {
		for i, cell := range row {
			b = append(b, cell...)
			if i < len(row)-1 {
				for pad := widths[i] - utf8.RuneCountInString(cell) + 2; pad > 0; pad-- {
					b = append(b, ' ')
				}
			}
		}
		b = bytes.TrimRight(b, " ")
		b = append(b, '\n')
	}
	_, err := w.Write(b)
	return err
}

// writeJSON writes v as one line of JSON, without escaping <, > and &
// (fingerprints and paths are shown as they are).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// rawCreatedAt returns created_at exactly as the manifest's bytes spell
// it (a manifest made elsewhere may spell it otherwise than pf would).
func rawCreatedAt(img *pf.Image) string {
	var v struct {
		CreatedAt string `json:"created_at"`
	}
	if json.Unmarshal(img.Raw, &v) != nil || v.CreatedAt == "" {
		return manifest.FormatTime(img.Manifest.CreatedAt)
	}
	return v.CreatedAt
}

// agentJSON is a manifest's agent as pf's JSON output writes it.
type agentJSON struct {
	Kind        string `json:"kind"`
	Version     string `json:"version"`
	Fingerprint string `json:"fingerprint"`
}

func agentOf(m *manifest.Manifest) agentJSON {
	return agentJSON{m.Agent.Kind, m.Agent.Version, m.Agent.Fingerprint}
}

// parentsOf returns the parents for JSON: [] rather than null for a root.
func parentsOf(m *manifest.Manifest) []manifest.Digest {
	if m.Parents == nil {
		return []manifest.Digest{}
	}
	return m.Parents
}

// tagsByImage maps each tagged image to its tag names, in name order.
func tagsByImage(ctx context.Context, s *pf.Store) (map[manifest.Digest][]string, error) {
	tags, err := s.Tags(ctx)
	if err != nil {
		return nil, err
	}
	m := map[manifest.Digest][]string{}
	for _, t := range tags {
		m[t.ID] = append(m[t.ID], t.Name)
	}
	return m, nil
}

// localTime is how a time is shown to people: in the zone loc (the
// invocation's), to the second, in the form --since and --until accept
// back.
func localTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02 15:04:05")
}

// humanBytes is a byte count in binary units: "64 KiB", "1.5 MiB".
func humanBytes(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// roundDuration rounds how long work took for a summary line: to the
// millisecond under a second, to the hundredth of a second above.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}
