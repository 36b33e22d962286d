package worktree

// WithBeforeRename sets, for the external tests, the hook a restore calls
// as a file written whole is about to be renamed into place.
func WithBeforeRename(opts RestoreOptions, hook func(path string)) RestoreOptions {
	opts.beforeRename = hook
	return opts
}
