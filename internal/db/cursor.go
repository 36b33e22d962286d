package db

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// SeekAfter positions c on the first key after after, or on the first key
// when after is nil: how work that goes through a bucket in transactions
// of bounded size picks up where the last one stopped, whatever was
// deleted or added behind it meanwhile.
func SeekAfter(c *bolt.Cursor, after []byte) (k, v []byte) {
	if after == nil {
		return c.First()
	}
	k, v = c.Seek(after)
	if bytes.Equal(k, after) {
		k, v = c.Next()
	}
	return k, v
}
