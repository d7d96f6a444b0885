package postgres

import (
	"fmt"
	"io/fs"
	"testing/fstest"
)

// Merge combines the *.sql migrations at the roots of several file systems
// into one (e.g. platform's outbox tables and a service's own). File names
// must be unique across them; order is by name.
func Merge(fss ...fs.FS) (fs.FS, error) {
	out := fstest.MapFS{}
	for _, f := range fss {
		names, err := fs.Glob(f, "*.sql")
		if err != nil {
			return nil, fmt.Errorf("merge migrations: %w", err)
		}
		for _, n := range names {
			if _, dup := out[n]; dup {
				return nil, fmt.Errorf("merge migrations: %s appears twice", n)
			}
			b, err := fs.ReadFile(f, n)
			if err != nil {
				return nil, fmt.Errorf("merge migrations: %w", err)
			}
			out[n] = &fstest.MapFile{Data: b, Mode: 0o444}
		}
	}
	return out, nil
}

// MustMerge is Merge for embedded file systems known at build time.
func MustMerge(fss ...fs.FS) fs.FS {
	m, err := Merge(fss...)
	if err != nil {
		panic(err)
	}
	return m
}
