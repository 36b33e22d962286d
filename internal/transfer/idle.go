package transfer

// An Idle keeps up to a bound of values that are costly to make (zstd
// encoders and decoders, frame buffers) for the next transfer to take.
// Not a sync.Pool: a transfer runs under a small memory limit (cmd/pf),
// whose frequent collections would empty a pool, and a value made again
// clears and faults in its memory every time.
type Idle[T any] struct{ free chan T }

// NewIdle keeps up to n values.
func NewIdle[T any](n int) *Idle[T] { return &Idle[T]{free: make(chan T, n)} }

// Get returns a kept value, or one that make returns when none is kept.
func (i *Idle[T]) Get(make func() T) T {
	select {
	case v := <-i.free:
		return v
	default:
		return make()
	}
}

// Put keeps v for the next Get and reports true, or leaves it to the
// collector when the bound is reached (a value that holds more than
// memory, such as a file, is then the caller's to release).
func (i *Idle[T]) Put(v T) bool {
	select {
	case i.free <- v:
		return true
	default:
		return false
	}
}
