package journal

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

type entry struct {
	S string `json:"s"`
}

func replayAll(t *testing.T, path string) []string {
	t.Helper()
	var got []string
	j, err := Open(path, func(line []byte) error {
		var e entry
		if err := json.Unmarshal(line, &e); err != nil {
			return err
		}
		got = append(got, e.S)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return got
}

// What Append accepts comes back from a replay byte for byte; what JSON
// would change is refused.
func TestLossless(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.log")
	j, err := Open(path, func([]byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	kept := []string{"plain", "a\ufffdb", `a\ufffdb`, `a\\ufffdb`, "\u2028<&>", "ü", ""}
	for _, s := range kept {
		if err := j.Append(entry{s}); err != nil {
			t.Fatalf("append %q: %v", s, err)
		}
	}
	for _, s := range []string{"r/a\xffb", "r/a\xfeb", `\` + "\xff", "ok\xc3"} {
		if err := j.Append(entry{s}); !errors.Is(err, ErrNotUTF8) {
			t.Errorf("append %q: err %v, want ErrNotUTF8", s, err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if got := replayAll(t, path); !slices.Equal(got, kept) {
		t.Errorf("replayed %q, want %q", got, kept)
	}
	// Compaction keeps them too, and refuses the same.
	j, _ = Open(path, func([]byte) error { return nil })
	err = j.Rewrite(func(emit func(any) error) error {
		for _, s := range kept {
			if err := emit(entry{s}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Rewrite(func(emit func(any) error) error { return emit(entry{"\xff"}) }); !errors.Is(err, ErrNotUTF8) {
		t.Errorf("rewrite with a non-UTF-8 string: %v", err)
	}
	j.Close()
	if got := replayAll(t, path); !slices.Equal(got, kept) {
		t.Errorf("after compaction replayed %q, want %q", got, kept)
	}
}

// A torn last line (a kill during a write) is dropped; the lines before it
// are kept.
func TestTornLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.log")
	if err := os.WriteFile(path, []byte(`{"s":"a"}`+"\n"+`{"s":"b"}`+"\n"+`{"s":"c`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := replayAll(t, path); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("replayed %q", got)
	}
}

func TestClosedAndNil(t *testing.T) {
	var nilJ *Journal
	if err := nilJ.Append(entry{"x"}); err != nil {
		t.Error(err)
	}
	j, err := Open(filepath.Join(t.TempDir(), "j.log"), func([]byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	if err := j.Append(entry{"x"}); err == nil {
		t.Error("append to a closed journal succeeded")
	}
}
