//go:build !unix

package local

// lockDir does not lock where flock is missing.
func lockDir(string) (func(), error) { return func() {}, nil }
