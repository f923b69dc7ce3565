package dynamolocal

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/nanopipe/nanopipe/local/internal/engine"
)

// Streams is the engine's stream source for DynamoDB Local: the Streams
// API read through engine.SDKStreams, with two corrections.
//
// DynamoDB Local rounds a record's ApproximateCreationDateTime down to the
// minute (DynamoDB to the second), which would put records written after
// a LATEST mapping started before it, and break tumbling windows and
// record ages. Streams dates a record by when it first read it, within
// the minute DynamoDB Local gives, and writes that second into the record.
//
// A write shows up in DynamoDB Local's stream a few milliseconds after it
// returns. Touch, called after each write that went through the local
// environment's endpoint, makes the engine's readers look again at once
// and a few times over the next 150 ms, instead of at their next poll.
type Streams struct {
	sdk *engine.SDKStreams

	mu        sync.Mutex
	seen      map[string]time.Time // stream|sequence -> first read
	pruned    time.Time
	changed   chan struct{}
	lastTouch time.Time
	ticking   bool
}

var (
	_ engine.StreamSource = (*Streams)(nil)
	_ engine.Notifier     = (*Streams)(nil)
)

// NewStreams returns a stream source reading DynamoDB Local through the
// two clients.
func NewStreams(ddb *dynamodb.Client, st *dynamodbstreams.Client) *Streams {
	return &Streams{sdk: engine.NewSDKStreams(ddb, st), seen: map[string]time.Time{}, changed: make(chan struct{}), pruned: time.Now()}
}

// StreamARN implements engine.StreamSource.
func (s *Streams) StreamARN(ctx context.Context, table string) (string, error) {
	return s.sdk.StreamARN(ctx, table)
}

// Shards implements engine.StreamSource.
func (s *Streams) Shards(ctx context.Context, arn string) ([]string, error) {
	return s.sdk.Shards(ctx, arn)
}

// Iterator implements engine.StreamSource.
func (s *Streams) Iterator(ctx context.Context, arn, shard string, typ engine.IteratorType, seq string) (string, error) {
	return s.sdk.Iterator(ctx, arn, shard, typ, seq)
}

// Records implements engine.StreamSource.
func (s *Streams) Records(ctx context.Context, it string, limit int) ([]engine.StreamRecord, string, error) {
	recs, next, err := s.sdk.Records(ctx, it, limit)
	if err != nil || len(recs) == 0 {
		return recs, next, err
	}
	stream, _, _ := strings.Cut(it, "|")
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range recs {
		r := &recs[i]
		key := stream + "|" + r.Sequence
		first, ok := s.seen[key]
		if !ok {
			first = now
			s.seen[key] = now
		}
		r.Created = dated(r.Created, first)
		r.JSON = withCreated(r.JSON, r.Created.Unix())
	}
	if now.Sub(s.pruned) > time.Minute {
		for k, t := range s.seen {
			if now.Sub(t) > 10*time.Minute {
				delete(s.seen, k)
			}
		}
		s.pruned = now
	}
	return recs, next, nil
}

// dated places a record in the minute DynamoDB Local gives it: when it was
// first read, unless that is outside the minute.
func dated(minute, firstRead time.Time) time.Time {
	if minute.IsZero() {
		return firstRead
	}
	switch {
	case firstRead.Before(minute):
		return minute
	case firstRead.Sub(minute) >= time.Minute:
		return minute.Add(time.Minute - time.Second)
	}
	return firstRead
}

// withCreated rewrites the record's ApproximateCreationDateTime.
func withCreated(js []byte, unix int64) []byte {
	const field = `"ApproximateCreationDateTime":`
	i := bytes.Index(js, []byte(field))
	if i < 0 {
		return js
	}
	start := i + len(field)
	end := start
	for end < len(js) && (js[end] >= '0' && js[end] <= '9' || js[end] == '.') {
		end++
	}
	out := make([]byte, 0, len(js)+4)
	out = append(out, js[:start]...)
	out = strconv.AppendInt(out, unix, 10)
	return append(out, js[end:]...)
}

// Changed implements engine.Notifier.
func (s *Streams) Changed(string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Touch tells the readers that a write happened.
func (s *Streams) Touch() {
	s.notify()
	s.mu.Lock()
	s.lastTouch = time.Now()
	start := !s.ticking
	s.ticking = true
	s.mu.Unlock()
	if start {
		go s.tick()
	}
}

func (s *Streams) notify() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// tick wakes the readers every 10 ms until 150 ms after the last write:
// the records of a write become readable a few milliseconds after it.
func (s *Streams) tick() {
	for {
		time.Sleep(10 * time.Millisecond)
		s.notify()
		s.mu.Lock()
		if time.Since(s.lastTouch) > 150*time.Millisecond {
			s.ticking = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}
