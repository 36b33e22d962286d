//go:build !linux

package bench

import "errors"

// canReadTree: the first checkpoint's limit row is measured on Linux
// only, where the calls timed (openat, mmap) are the ones pf makes.
const canReadTree = false

func readTree(string, func(string) bool, int, bool) (treeRead, error) {
	return treeRead{}, errors.New("not on this system")
}

func readTreePacked(string, func(string) bool, int) (treeRead, *treePacks, error) {
	return treeRead{}, nil, errors.New("not on this system")
}

func readTreeStored(string, func(string) bool, int, *valueSink, bool) (treeRead, error) {
	return treeRead{}, errors.New("not on this system")
}

func treeWorkers() int { return 1 }
