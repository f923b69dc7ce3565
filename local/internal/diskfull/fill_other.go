//go:build !linux

package diskfull

import "errors"

func fill(string) (int, error) {
	return 0, errors.New("needs Linux (/dev/full and /proc/self/fd)")
}
