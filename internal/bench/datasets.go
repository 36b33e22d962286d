package bench

import (
	"bufio"
	"fmt"
	"github.com/processfork/pf/internal/fixture"
	"os"
	"path/filepath"
)

// The inputs of the workloads live in files, written once by the parent
// process and kept with the history stores under --out, and mapped by
// each job's process: they are the same bytes for every system, cost
// nothing to load, and sit outside the Go heap.

// dataset is one input file's recipe.
type dataset struct {
	name  string
	bytes int64
	kind  string // kindRandom or kindJSONL
	seed  uint64 // of the random stream
}

// Seeds of the random datasets: distinct, so that no two share a blob.
const (
	seedSmall = 0x5eed // as randomBytes, so the 16 KiB blobs are the go test ones
	seedLarge = 0x4d1b
	seedBig   = 0xb16b
)

func ingestDataset(ij ingestJob) dataset {
	d := dataset{name: fmt.Sprintf("%s-%d", ij.name, int64(ij.count)*int64(ij.size)), bytes: int64(ij.count) * int64(ij.size), kind: ij.data}
	switch ij.name {
	case jobIngestLarge:
		d.seed = seedLarge
	default:
		d.seed = seedSmall
	}
	return d
}

func bigDataset(size int64) dataset {
	return dataset{name: fmt.Sprintf("big-%d", size), bytes: size, kind: kindRandom, seed: seedBig}
}

func datasetOf(ij ingestJob) string       { return ingestDataset(ij).name }
func datasetBig(size int64) string        { return bigDataset(size).name }
func datasetPath(dir, name string) string { return filepath.Join(dir, name+".bin") }

// datasetsFor lists the datasets a job reads.
func (sz Sizes) datasetsFor(job string) []dataset {
	if ij, ok := sz.ingest(job); ok {
		return []dataset{ingestDataset(ij)}
	}
	if job == jobBigBlob {
		return []dataset{bigDataset(sz.BigBlob)}
	}
	return nil
}

// ensure writes the dataset's file in dir unless it is there, and returns
// its path.
func (d dataset) ensure(dir string) (string, error) {
	path := datasetPath(dir, d.name)
	if info, err := os.Stat(path); err == nil && info.Size() == d.bytes {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	err = d.write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("write dataset %s: %w", d.name, err)
	}
	return path, nil
}

func (d dataset) write(f *os.File) error {
	if d.kind == kindJSONL {
		_, err := f.Write(jsonlCorpus(int(d.bytes)).data)
		return err
	}
	// One SplitMix64 stream, written a piece at a time: pieces a multiple
	// of 8 bytes long make the same bytes as one fill of the whole.
	w := bufio.NewWriterSize(f, 1<<20)
	s := fixture.NewSplitMix64(d.seed)
	buf := make([]byte, 1<<20)
	for left := d.bytes; left > 0; {
		n := min(left, int64(len(buf)))
		s.Fill(buf[:n])
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		left -= n
	}
	return w.Flush()
}
