//go:build !linux

package journal

import "errors"

func dropCache(string) error { return errors.ErrUnsupported }
