package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
	"github.com/rogpeppe/go-internal/txtar"
)

var updateGraphs = flag.Bool("update-graphs", false, "rewrite the graph section of testdata/graph/*.txtar")

// TestGraph_Golden draws each history of testdata/graph (its README says
// where the expected drawings come from) and checks it against the
// drawing there; then checks that every cut of the listing (pf log -n N)
// draws exactly the first rows of the whole drawing.
func TestGraph_Golden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "graph", "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden graphs: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var history, want string
			for _, f := range ar.Files {
				switch f.Name {
				case "history":
					history = string(f.Data)
				case "graph":
					want = string(f.Data)
				}
			}
			entries := parseHistory(t, history)
			whole := drawGraph(entries, 0)
			if *updateGraphs {
				for i := range ar.Files {
					if ar.Files[i].Name == "graph" {
						ar.Files[i].Data = []byte(whole)
					}
				}
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if whole != want {
				t.Fatalf("drawn:\n%s\nwant:\n%s", whole, want)
			}
			lines := strings.SplitAfter(whole, "\n")
			for n := 1; n <= len(entries); n++ {
				cut := drawGraph(entries, n)
				// The first n images and the edge rows that follow them.
				images, end := 0, 0
				for end < len(lines) && lines[end] != "" {
					if strings.Contains(lines[end], "*") {
						if images == n {
							break
						}
						images++
					}
					end++
				}
				if prefix := strings.Join(lines[:end], ""); cut != prefix {
					t.Errorf("-n %d drew:\n%s\nwant the whole graph's first rows:\n%s", n, cut, prefix)
				}
			}
		})
	}
}

// parseHistory reads a history, one image a line, children before
// parents: "NAME [PARENT...]".
func parseHistory(t *testing.T, text string) []pf.Summary {
	t.Helper()
	var entries []pf.Summary
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		s := pf.Summary{ID: manifest.Sum([]byte(fields[0])), Agent: manifest.Agent{Fingerprint: fields[0]}}
		for _, p := range fields[1:] {
			s.Parents = append(s.Parents, manifest.Sum([]byte(p)))
		}
		entries = append(entries, s)
	}
	return entries
}

// drawGraph is the graph of pf log -n limit, each image named by its
// fingerprint one space after its graph cell, as git log --graph
// --format=%s writes it (without git's padding).
func drawGraph(entries []pf.Summary, limit int) string {
	var b strings.Builder
	for _, row := range graphRows(entries, limit, func(e pf.Summary) []string { return []string{e.Agent.Fingerprint} }) {
		b.WriteString(strings.Join(row, " ") + "\n")
	}
	return b.String()
}
