// Package deadletter is the local environment's on-failure destination:
// a store of the events and record batches that failed every attempt or
// expired, kept with what is needed to understand and replay them.
//
// # What a letter holds
//
// A Letter keeps the exact Lambda payload that failed (an S3 notification
// or a DynamoDB stream batch), so that replaying it invokes the stage with
// what it saw, plus why it failed (the condition Lambda reports:
// RetriesExhausted, EventAgeExceeded, RetryAttemptsExhausted,
// RecordAgeExceeded), the last error and the number of attempts. Stream
// letters also carry the batch metadata Lambda sends to an on-failure
// destination: shard, first and last sequence number, batch size.
//
// # Storage
//
// Each letter is one JSON file under the store's directory, named so that
// a directory listing is in the order the letters were written. A store
// without a directory keeps letters in memory.
package deadletter

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Conditions, as Lambda names them in on-failure records.
const (
	RetriesExhausted       = "RetriesExhausted"       // asynchronous invocation failed every attempt
	EventAgeExceeded       = "EventAgeExceeded"       // asynchronous event older than MaxEventAge
	RetryAttemptsExhausted = "RetryAttemptsExhausted" // stream batch failed every retry
	RecordAgeExceeded      = "RecordAgeExceeded"      // stream records older than MaxRecordAge
)

// Letter is one dead-lettered event or batch.
type Letter struct {
	ID    string `json:"id"`
	Stage string `json:"stage"`
	// Source is "aws:s3" or "aws:dynamodb".
	Source    string    `json:"source"`
	Time      time.Time `json:"time"`
	Condition string    `json:"condition"`
	Error     string    `json:"error,omitempty"`
	Attempts  int       `json:"attempts"`
	// Destination is where a deployment would send it: "default" (the
	// stage's queue) or the ARN of the declared queue or topic.
	Destination string `json:"destination"`
	// Summary describes the event or records in a line.
	Summary string `json:"summary"`
	// Records is the number of S3 records or stream records in Payload.
	Records int `json:"records"`
	// Stream is set for stream batches.
	Stream *Batch `json:"stream,omitempty"`
	// Replays counts how often the payload was replayed before.
	Replays int `json:"replays,omitempty"`
	// Payload is the Lambda event that failed, as the stage received it.
	Payload json.RawMessage `json:"payload"`
}

// Batch is the stream metadata Lambda's on-failure record carries.
type Batch struct {
	StreamARN     string `json:"streamArn"`
	ShardID       string `json:"shardId"`
	StartSequence string `json:"startSequenceNumber"`
	EndSequence   string `json:"endSequenceNumber"`
	BatchSize     int    `json:"batchSize"`
}

// Store keeps letters. Its methods are safe for concurrent use.
type Store struct {
	mu  sync.Mutex
	dir string
	mem map[string]*Letter
}

// ErrNotFound is returned for an unknown letter ID.
var ErrNotFound = errors.New("deadletter: no such letter")

// Open opens the store in dir ("" for memory).
func Open(dir string) (*Store, error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("deadletter: %w", err)
		}
	}
	return &Store{dir: dir, mem: map[string]*Letter{}}, nil
}

// NewID returns a letter ID that sorts by time.
func NewID(t time.Time) string {
	b := make([]byte, 4)
	rand.Read(b)
	return t.UTC().Format("20060102T150405.000000") + "-" + hex.EncodeToString(b)
}

// CheckID reports whether id is a letter ID as NewID makes them: only
// such an ID names a file, always inside the store's directory.
func CheckID(id string) error {
	const layout = "20060102T150405.000000-00000000"
	ok := len(id) == len(layout)
	for i := 0; ok && i < len(id); i++ {
		c, l := id[i], layout[i]
		switch {
		case l >= '0' && l <= '9' && i < 22:
			ok = c >= '0' && c <= '9'
		case i > 22:
			ok = c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
		default:
			ok = c == l
		}
	}
	if !ok {
		return fmt.Errorf("deadletter: %q is not a letter ID (IDs look like 20260102T150405.000000-1a2b3c4d: list them with the deadletters command)", id)
	}
	return nil
}

// Put stores a letter, giving it an ID and time when it has none.
func (s *Store) Put(l *Letter) error {
	if l.Time.IsZero() {
		l.Time = time.Now().UTC()
	}
	if l.ID == "" {
		l.ID = NewID(l.Time)
	}
	if err := CheckID(l.ID); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		cp := *l
		s.mem[l.ID] = &cp
		return nil
	}
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("deadletter: %w", err)
	}
	tmp := filepath.Join(s.dir, "."+l.ID+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("deadletter: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, l.ID+".json")); err != nil {
		return fmt.Errorf("deadletter: %w", err)
	}
	return nil
}

// List returns the letters of a stage ("" for all), oldest first.
func (s *Store) List(stage string) ([]*Letter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Letter
	if s.dir == "" {
		for _, l := range s.mem {
			if stage == "" || l.Stage == stage {
				cp := *l
				out = append(out, &cp)
			}
		}
	} else {
		ents, err := os.ReadDir(s.dir)
		if err != nil {
			return nil, fmt.Errorf("deadletter: %w", err)
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".json") || CheckID(strings.TrimSuffix(e.Name(), ".json")) != nil {
				continue
			}
			l, err := s.read(strings.TrimSuffix(e.Name(), ".json"))
			if err != nil {
				return nil, err
			}
			if stage == "" || l.Stage == stage {
				out = append(out, l)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s *Store) read(id string) (*Letter, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(s.dir, id+".json"))
	if os.IsNotExist(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("deadletter: %w", err)
	}
	var l Letter
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("deadletter: letter %s: %w", id, err)
	}
	return &l, nil
}

// Get returns one letter.
func (s *Store) Get(id string) (*Letter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		l, ok := s.mem[id]
		if !ok {
			return nil, ErrNotFound
		}
		cp := *l
		return &cp, nil
	}
	return s.read(id)
}

// Delete removes a letter.
func (s *Store) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		if _, ok := s.mem[id]; !ok {
			return ErrNotFound
		}
		delete(s.mem, id)
		return nil
	}
	if err := CheckID(id); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(s.dir, id+".json"))
	if os.IsNotExist(err) {
		return ErrNotFound
	}
	return err
}
