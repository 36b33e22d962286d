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
		Description: "image bytes: what the images hold, each counted whole (a blob shared by two images\n" +
			"counts twice); logical bytes: every distinct blob and manifest once, uncompressed; stored\n" +
			"bytes: after compression and chunking; dedupe ratio = image bytes / logical bytes;\n" +
			"compression ratio = logical / stored bytes. pf demo and --json use the same names.",
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
			return writeTable(c.App.Writer, append([][]string{
				{"store", s.Path()},
				{"schema", fmt.Sprint(st.Schema)},
				{"images", fmt.Sprint(st.Images)},
				{"blobs", fmt.Sprintf("%d (%d chunks)", st.Blobs, st.Chunks)},
			}, figureRows(st)...))
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

// figureRows are the store's byte figures and ratios, one name each, as
// pf stats and pf demo print them (and --json names them, with _ for the
// space): the names mean the same wherever they appear.
func figureRows(st pf.Stats) [][]string {
	bytes := func(n int64) string { return fmt.Sprintf("%s (%d)", humanBytes(n), n) }
	return [][]string{
		{"image bytes", bytes(st.ImageLogical)},
		{"logical bytes", bytes(st.Logical)},
		{"stored bytes", bytes(st.Stored)},
		{"file size", bytes(st.FileSize)},
		{"dedupe ratio", fmt.Sprintf("%.2fx", st.DedupeRatio())},
		{"compression ratio", fmt.Sprintf("%.2fx", st.CompressionRatio())},
	}
}
