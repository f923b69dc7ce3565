package local

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/nanopipe/nanopipe/local/internal/dynamosrv"
	"github.com/nanopipe/nanopipe/local/internal/engine"
)

// embeddedStreams reads the embedded DynamoDB's streams in-process, for
// the engine: the same operations as the Streams API, without HTTP, and
// with a notification when records arrive so that delivery starts at once.
type embeddedStreams struct{ db *dynamosrv.DB }

var (
	_ engine.StreamSource = embeddedStreams{}
	_ engine.Notifier     = embeddedStreams{}
)

// StreamARN implements engine.StreamSource.
func (s embeddedStreams) StreamARN(_ context.Context, table string) (string, error) {
	arn, on, err := s.db.StreamARN(table)
	if err != nil || !on {
		return "", err
	}
	return arn, nil
}

// Shards implements engine.StreamSource.
func (s embeddedStreams) Shards(_ context.Context, arn string) ([]string, error) {
	shards, err := s.db.Shards(arn)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(shards))
	for i, sh := range shards {
		ids[i] = sh.ID
	}
	return ids, nil
}

// An iterator is "position|shard|arn".
func iter(arn, shard string, pos int64) string {
	return strconv.FormatInt(pos, 10) + "|" + shard + "|" + arn
}

// Iterator implements engine.StreamSource.
func (s embeddedStreams) Iterator(_ context.Context, arn, shard string, typ engine.IteratorType, seq string) (string, error) {
	pos, err := s.db.Position(arn, shard, string(typ), seq)
	if err != nil {
		return "", err
	}
	return iter(arn, shard, pos), nil
}

// Records implements engine.StreamSource.
func (s embeddedStreams) Records(_ context.Context, it string, limit int) ([]engine.StreamRecord, string, error) {
	p, rest, ok1 := strings.Cut(it, "|")
	shard, arn, ok2 := strings.Cut(rest, "|")
	pos, err := strconv.ParseInt(p, 10, 64)
	if !ok1 || !ok2 || err != nil {
		return nil, "", fmt.Errorf("local: bad shard iterator %q", it)
	}
	recs, next, err := s.db.ReadShard(arn, shard, pos, limit)
	if err != nil {
		return nil, "", err
	}
	out := make([]engine.StreamRecord, len(recs))
	for i, r := range recs {
		out[i] = engine.StreamRecord{Sequence: r.Sequence, Created: r.Created, JSON: r.JSON}
	}
	if next < 0 {
		return out, "", nil
	}
	return out, iter(arn, shard, next), nil
}

// Changed implements engine.Notifier.
func (s embeddedStreams) Changed(arn string) <-chan struct{} { return s.db.Wait(arn) }
