//go:build !linux

package heaplimit

import "unsafe"

// AdviseHeap advises nothing here (hugeheap_linux.go).
func AdviseHeap(unsafe.Pointer) {}

// takeBackAdvice has no advice to take back here.
func takeBackAdvice() {}
