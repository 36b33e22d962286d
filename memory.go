package pf

import (
	"runtime"

	"github.com/processfork/pf/internal/cas"
)

// idleBuffers is how many bytes of buffers kept for the next puts
// ReleaseMemory leaves alone: more than a checkpoint of a few changed
// files leaves kept (none of 20 such turns on $GOROOT/src passed it), less
// than a first checkpoint of a source tree leaves (its packs', chunkers'
// and staged values' buffers: 38.5 MiB on $GOROOT/src).
var idleBuffers = 32 << 20

// ReleaseMemory gives back the buffers pf keeps for its next large puts,
// once they hold more than a few small puts need, and runs a collection,
// returning how many bytes of buffers it dropped (0: it did nothing). A
// process that runs on between commands (pf serve, an agent that embeds
// the store) calls it once a command is done. The buffers of a first
// checkpoint are live when the collector sets the heap's next goal (twice
// the live heap), so a process that keeps them takes that much more memory
// for its next commands, each page new to it at first (a page fault each);
// dropped and collected at once, the goal is set by what lives and the
// next commands reuse the memory the process has. A pf serve that took a
// first checkpoint of $GOROOT/src faulted in about 15,200 pages over its
// next 20 turns, and peaked at 174 MB; with this, about 3,300 and 123 MB.
func ReleaseMemory() int {
	n := cas.ReleaseBuffers(idleBuffers)
	if n > 0 {
		runtime.GC()
	}
	return n
}
