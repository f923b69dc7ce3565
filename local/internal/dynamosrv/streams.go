package dynamosrv

import (
	"encoding/base64"
	"encoding/json"
	"sort"
	"strconv"
	"time"
)

// ---- Streams API (DynamoDBStreams_20120810)

type listStreamsInput struct {
	TableName               string `json:"TableName"`
	Limit                   int    `json:"Limit"`
	ExclusiveStartStreamArn string `json:"ExclusiveStartStreamArn"`
}

type streamSummary struct {
	StreamArn   string `json:"StreamArn"`
	TableName   string `json:"TableName"`
	StreamLabel string `json:"StreamLabel"`
}

func (db *DB) listStreams(in listStreamsInput) (any, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if in.TableName != "" {
		if _, err := db.table(in.TableName); err != nil {
			return nil, err
		}
	}
	limit := in.Limit
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	out := []streamSummary{}
	last := ""
	for _, s := range db.sortedStreams() {
		if (in.TableName != "" && s.Table != in.TableName) || s.ARN <= in.ExclusiveStartStreamArn {
			continue
		}
		if len(out) == limit {
			last = out[len(out)-1].StreamArn
			break
		}
		out = append(out, streamSummary{s.ARN, s.Table, s.Label})
	}
	res := map[string]any{"Streams": out}
	if last != "" {
		res["LastEvaluatedStreamArn"] = last
	}
	return res, nil
}

type describeStreamInput struct {
	StreamArn             string `json:"StreamArn"`
	Limit                 int    `json:"Limit"`
	ExclusiveStartShardId string `json:"ExclusiveStartShardId"`
}

type seqRange struct {
	StartingSequenceNumber string `json:"StartingSequenceNumber,omitempty"`
	EndingSequenceNumber   string `json:"EndingSequenceNumber,omitempty"`
}

type shardDesc struct {
	ShardId             string   `json:"ShardId"`
	SequenceNumberRange seqRange `json:"SequenceNumberRange"`
	ParentShardId       string   `json:"ParentShardId,omitempty"`
}

func (db *DB) stream(arn string) (*stream, error) {
	s := db.streams[arn]
	if s == nil {
		return nil, notFound("Requested resource not found: Stream: " + arn + " not found")
	}
	return s, nil
}

func (s *stream) status() string {
	if s.Disabled {
		return "DISABLED"
	}
	return "ENABLED"
}

func (db *DB) describeStream(in describeStreamInput) (any, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	s, err := db.stream(in.StreamArn)
	if err != nil {
		return nil, err
	}
	limit := in.Limit
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	shards := []shardDesc{}
	last := ""
	for _, sh := range s.shards {
		if in.ExclusiveStartShardId != "" && sh.id <= in.ExclusiveStartShardId {
			continue
		}
		if len(shards) == limit {
			last = shards[len(shards)-1].ShardId
			break
		}
		d := shardDesc{ShardId: sh.id}
		if len(sh.recs) > 0 {
			d.SequenceNumberRange.StartingSequenceNumber = strconv.FormatUint(sh.recs[0].seq, 10)
		} else {
			d.SequenceNumberRange.StartingSequenceNumber = strconv.FormatUint(db.seq+1, 10)
		}
		if s.Disabled {
			end := db.seq
			if len(sh.recs) > 0 {
				end = sh.recs[len(sh.recs)-1].seq
			}
			d.SequenceNumberRange.EndingSequenceNumber = strconv.FormatUint(end, 10)
		}
		shards = append(shards, d)
	}
	var ks []keySchemaElement
	if len(s.Keys) > 0 {
		var sk *KeyDef
		if len(s.Keys) > 1 {
			sk = &s.Keys[1]
		}
		ks = keySchema(s.Keys[0], sk)
	}
	desc := map[string]any{
		"StreamArn":               s.ARN,
		"StreamLabel":             s.Label,
		"StreamStatus":            s.status(),
		"StreamViewType":          s.View,
		"CreationRequestDateTime": epoch(s.Created),
		"TableName":               s.Table,
		"KeySchema":               ks,
		"Shards":                  shards,
	}
	if last != "" {
		desc["LastEvaluatedShardId"] = last
	}
	return map[string]any{"StreamDescription": desc}, nil
}

type getIteratorInput struct {
	StreamArn         string `json:"StreamArn"`
	ShardId           string `json:"ShardId"`
	ShardIteratorType string `json:"ShardIteratorType"`
	SequenceNumber    string `json:"SequenceNumber"`
}

// iterator is what a shard iterator encodes: a position in a shard.
type iterator struct {
	ARN   string `json:"a"`
	Shard string `json:"s"`
	Pos   int64  `json:"p"`
	At    int64  `json:"t"`
}

func (it iterator) String() string {
	b, _ := json.Marshal(it)
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseIterator(s string) (iterator, error) {
	var it iterator
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &it) != nil || it.ARN == "" {
		return it, validation("Invalid ShardIterator")
	}
	return it, nil
}

func (s *stream) shard(id string) *shard {
	for _, sh := range s.shards {
		if sh.id == id {
			return sh
		}
	}
	return nil
}

// position resolves an iterator type to an absolute position in a shard.
func (sh *shard) position(typ, seq string) (int64, error) {
	switch typ {
	case "TRIM_HORIZON":
		return sh.trimmed, nil
	case "LATEST":
		return sh.trimmed + int64(len(sh.recs)), nil
	case "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER":
		n, err := strconv.ParseUint(seq, 10, 64)
		if err != nil {
			return 0, validation("Invalid SequenceNumber: " + seq)
		}
		i := sort.Search(len(sh.recs), func(i int) bool { return sh.recs[i].seq >= n })
		if typ == "AFTER_SEQUENCE_NUMBER" && i < len(sh.recs) && sh.recs[i].seq == n {
			i++
		}
		if i == 0 && len(sh.recs) > 0 && n < sh.recs[0].seq && sh.trimmed > 0 {
			return 0, &APIError{Type: "TrimmedDataAccessException", Message: "The operation attempted to read past the oldest stream record in a shard.", Status: 400}
		}
		return sh.trimmed + int64(i), nil
	}
	return 0, validation("1 validation error detected: Value '" + typ + "' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_SEQUENCE_NUMBER, TRIM_HORIZON]")
}

func (db *DB) getShardIterator(in getIteratorInput) (any, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	s, err := db.stream(in.StreamArn)
	if err != nil {
		return nil, err
	}
	sh := s.shard(in.ShardId)
	if sh == nil {
		return nil, notFound("Requested resource not found: Shard does not exist")
	}
	if (in.ShardIteratorType == "AT_SEQUENCE_NUMBER" || in.ShardIteratorType == "AFTER_SEQUENCE_NUMBER") == (in.SequenceNumber == "") {
		return nil, validation("Exactly one of SequenceNumber or a non-sequence iterator type is required: AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER take a SequenceNumber")
	}
	pos, err := sh.position(in.ShardIteratorType, in.SequenceNumber)
	if err != nil {
		return nil, err
	}
	return map[string]any{"ShardIterator": iterator{ARN: s.ARN, Shard: sh.id, Pos: pos, At: db.now().Unix()}.String()}, nil
}

type getRecordsInput struct {
	ShardIterator string `json:"ShardIterator"`
	Limit         int    `json:"Limit"`
}

// iteratorLifetime is how long a shard iterator stays valid, as in DynamoDB.
const iteratorLifetime = 15 * time.Minute

func (db *DB) getRecords(in getRecordsInput) (any, error) {
	it, err := parseIterator(in.ShardIterator)
	if err != nil {
		return nil, err
	}
	if db.now().Sub(time.Unix(it.At, 0)) > iteratorLifetime {
		return nil, &APIError{Type: "ExpiredIteratorException", Message: "Iterator expired. The iterator was created at time " + time.Unix(it.At, 0).UTC().Format(time.RFC1123) + " while right now it is " + db.now().UTC().Format(time.RFC1123) + " which is further in the future than the tolerated delay of 900000 milliseconds.", Status: 400}
	}
	limit := in.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	recs, next, err := db.ReadShard(it.ARN, it.Shard, it.Pos, limit)
	if err != nil {
		return nil, err
	}
	raw := make([]json.RawMessage, len(recs))
	for i, r := range recs {
		raw[i] = r.JSON
	}
	out := map[string]any{"Records": raw}
	if next >= 0 {
		out["NextShardIterator"] = iterator{ARN: it.ARN, Shard: it.Shard, Pos: next, At: db.now().Unix()}.String()
	}
	return out, nil
}

// ---- in-process access for the delivery engine

// Record is one stream record as GetRecords returns it.
type Record struct {
	Sequence string
	Created  time.Time
	// JSON is the record in the GetRecords (and Lambda) shape, without the
	// eventSourceARN Lambda adds.
	JSON []byte
}

// Shard describes one shard of a stream.
type Shard struct {
	ID string
}

// StreamARN returns the latest stream ARN of a table and whether the
// stream is enabled.
func (db *DB) StreamARN(table string) (string, bool, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	t, err := db.table(table)
	if err != nil {
		return "", false, err
	}
	return t.meta.StreamARN, t.meta.StreamView != "", nil
}

// Shards lists a stream's shards.
func (db *DB) Shards(arn string) ([]Shard, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	s, err := db.stream(arn)
	if err != nil {
		return nil, err
	}
	out := make([]Shard, len(s.shards))
	for i, sh := range s.shards {
		out[i] = Shard{ID: sh.id}
	}
	return out, nil
}

// Position resolves an iterator type (TRIM_HORIZON, LATEST,
// AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER) to a position in a shard.
func (db *DB) Position(arn, shardID, typ, seq string) (int64, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	s, err := db.stream(arn)
	if err != nil {
		return 0, err
	}
	sh := s.shard(shardID)
	if sh == nil {
		return 0, notFound("Requested resource not found: Shard does not exist")
	}
	return sh.position(typ, seq)
}

// ReadShard returns up to limit records from position pos and the position
// after them; next is -1 when the shard is closed and read to its end.
func (db *DB) ReadShard(arn, shardID string, pos int64, limit int) ([]Record, int64, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	s, err := db.stream(arn)
	if err != nil {
		return nil, 0, err
	}
	sh := s.shard(shardID)
	if sh == nil {
		return nil, 0, notFound("Requested resource not found: Shard does not exist")
	}
	if pos < sh.trimmed {
		return nil, 0, &APIError{Type: "TrimmedDataAccessException", Message: "The operation attempted to read past the oldest stream record in a shard.", Status: 400}
	}
	i := int(pos - sh.trimmed)
	if i > len(sh.recs) {
		i = len(sh.recs)
	}
	end := min(len(sh.recs), i+limit)
	out := make([]Record, 0, end-i)
	for _, r := range sh.recs[i:end] {
		out = append(out, Record{Sequence: strconv.FormatUint(r.seq, 10), Created: r.at, JSON: r.json})
	}
	next := sh.trimmed + int64(end)
	if s.Disabled && end == len(sh.recs) && len(out) == 0 {
		next = -1
	}
	return out, next, nil
}

// Wait returns a channel closed when the stream gets new records.
func (db *DB) Wait(arn string) <-chan struct{} {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if s := db.streams[arn]; s != nil {
		return s.wake
	}
	c := make(chan struct{})
	close(c)
	return c
}
