//go:build unix

package ociregistry

import (
	"io"
	"os"
	"syscall"
)

// reusable: a spool's name goes as soon as it is made, and each upload
// reads it through a descriptor of its own (uploadBody).
const reusable = true

// unlinkOpen removes f's name; the open file lives on until closed.
func unlinkOpen(f *os.File) { os.Remove(f.Name()) }

// uploadBody returns spool f, from where it stands, as a request's body
// that net/http may close without closing f: a duplicate descriptor,
// still an *os.File, so that the upload goes by sendfile(2).
func uploadBody(f *os.File) (io.Reader, error) {
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), f.Name()), nil
}
