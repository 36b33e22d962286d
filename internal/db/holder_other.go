//go:build !linux

package db

// holderSuffix would name the process holding path's lock; only Linux
// says who holds a flock (in /proc/locks).
func holderSuffix(path string) string { return "" }
