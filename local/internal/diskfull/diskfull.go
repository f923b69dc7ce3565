// Package diskfull lets tests make the writes to a file a server holds
// open fail as on a full disk, without a hook in the server: the file's
// descriptor is replaced by one of /dev/full, whose writes fail with
// ENOSPC. It exists for fault tests of the journals (an acknowledged write
// must have been journaled) and works on Linux only.
package diskfull

import "testing"

// Fill makes every later write to path, through the descriptors this
// process holds open on it, fail with "no space left on device". Reads of
// those descriptors read zeros. It fails the test when the process holds no
// descriptor on path, or on a system without /dev/full and /proc/self/fd.
func Fill(t testing.TB, path string) {
	t.Helper()
	n, err := fill(path)
	if err != nil {
		t.Fatalf("diskfull: %v", err)
	}
	if n == 0 {
		t.Fatalf("diskfull: the process holds no descriptor on %s", path)
	}
}
