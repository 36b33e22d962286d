//go:build !unix

package cas

func dropMapped(v []byte, base, mapped uintptr) {}
