package main

import (
	"fmt"

	"github.com/processfork/pf"
	"github.com/urfave/cli/v2"
)

func statsCommand() *cli.Command {
	return &cli.Command{
		Name:  "stats",
		Usage: "sum up the store: images, blobs, bytes, ratios",
		Description: "logical bytes: every distinct blob and manifest once, uncompressed; image bytes: what\n" +
			"the images would take each stored whole; stored bytes: after compression and chunking;\n" +
			"dedupe ratio = image bytes / logical bytes; compression ratio = logical / stored bytes.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "write one JSON object"},
		},
		Action: withStore(readOnly, func(c *cli.Context, s *pf.Store) error {
			if err := wantArgs(c, 0, 0); err != nil {
				return err
			}
			st, err := s.Stats(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, statsJSON{
					Path: s.Path(), Schema: st.Schema, Images: st.Images, Blobs: st.Blobs, Chunks: st.Chunks,
					LogicalBytes: st.Logical, ImageBytes: st.ImageLogical, StoredBytes: st.Stored, FileSize: st.FileSize,
					DedupeRatio: st.DedupeRatio(), CompressionRatio: st.CompressionRatio(),
				})
			}
			bytes := func(n int64) string { return fmt.Sprintf("%s (%d)", humanBytes(n), n) }
			return writeTable(c.App.Writer, [][]string{
				{"store", s.Path()},
				{"schema", fmt.Sprint(st.Schema)},
				{"images", fmt.Sprint(st.Images)},
				{"blobs", fmt.Sprintf("%d (%d chunks)", st.Blobs, st.Chunks)},
				{"logical bytes", bytes(st.Logical)},
				{"image bytes", bytes(st.ImageLogical)},
				{"stored bytes", bytes(st.Stored)},
				{"file size", bytes(st.FileSize)},
				{"dedupe ratio", fmt.Sprintf("%.2fx", st.DedupeRatio())},
				{"compression ratio", fmt.Sprintf("%.2fx", st.CompressionRatio())},
			})
		}),
	}
}

// statsJSON is pf stats --json.
type statsJSON struct {
	Path             string  `json:"path"`
	Schema           int     `json:"schema_version"`
	Images           int64   `json:"images"`
	Blobs            int64   `json:"blobs"`
	Chunks           int64   `json:"chunks"`
	LogicalBytes     int64   `json:"logical_bytes"`
	ImageBytes       int64   `json:"image_bytes"`
	StoredBytes      int64   `json:"stored_bytes"`
	FileSize         int64   `json:"file_size"`
	DedupeRatio      float64 `json:"dedupe_ratio"`
	CompressionRatio float64 `json:"compression_ratio"`
}
