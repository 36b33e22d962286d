//go:build !unix

package ociregistry

import (
	"io"
	"os"
)

// reusable: an open file cannot lose its name here, and the upload closes
// the spool it reads, so each blob has a new spool, removed after it.
const reusable = false

func unlinkOpen(*os.File) {}

func uploadBody(f *os.File) (io.Reader, error) { return f, nil }
