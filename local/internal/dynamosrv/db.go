package dynamosrv

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/nanopipe/nanopipe/local/internal/journal"
)

// Options configure a DB.
type Options struct {
	// Dir keeps tables, items and stream records under this directory, so
	// they survive a restart; "" keeps them in memory.
	Dir string
	// Region and Account appear in ARNs and stream records
	// (default us-east-1 and 000000000000).
	Region  string
	Account string
	// Shards is how many shards each stream has (default 4). Records of one
	// item always go to the same shard, in order.
	Shards int
	// Retention is how long stream records are kept (default 24 hours).
	Retention time.Duration
	// TTLInterval is how often expired items are removed from tables with
	// time to live enabled (default 1 second; negative disables it).
	TTLInterval time.Duration
}

// DB is the embedded DynamoDB: tables, items and streams, served over
// DynamoDB's and DynamoDB Streams' JSON protocols by Handler, and readable
// in-process through its stream methods.
type DB struct {
	mu      sync.RWMutex
	opts    Options
	tables  map[string]*table
	streams map[string]*stream // by ARN
	j       *journal.Journal
	seq     uint64
	now     func() time.Time
	stop    chan struct{}
	wg      sync.WaitGroup
}

type stream struct {
	ARN      string    `json:"arn"`
	Label    string    `json:"label"`
	Table    string    `json:"table"`
	View     string    `json:"view"`
	Created  time.Time `json:"created"`
	Disabled bool      `json:"disabled,omitempty"`
	Keys     []KeyDef  `json:"keys"`
	ShardIDs []string  `json:"shards"`

	shards []*shard
	wake   chan struct{}
}

type shard struct {
	id      string
	recs    []*streamRec
	trimmed int64 // absolute position of recs[0]
}

type streamRec struct {
	seq  uint64
	at   time.Time
	json []byte
}

type writeEntry struct {
	T   string    `json:"t"`
	Put Item      `json:"put,omitempty"`
	Del Item      `json:"del,omitempty"`
	Rec *recEntry `json:"rec,omitempty"`
}

type recEntry struct {
	ARN   string          `json:"arn"`
	Shard int             `json:"shard"`
	Seq   uint64          `json:"seq"`
	At    time.Time       `json:"at"`
	JSON  json.RawMessage `json:"json"`
}

type logEntry struct {
	Op     string       `json:"op"`
	Table  *tableMeta   `json:"table,omitempty"`
	Name   string       `json:"name,omitempty"`
	Stream *stream      `json:"stream,omitempty"`
	W      []writeEntry `json:"w,omitempty"`
	Seq    uint64       `json:"seq,omitempty"`
}

// Open opens (or creates) a DB.
func Open(opts Options) (*DB, error) {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Account == "" {
		opts.Account = "000000000000"
	}
	if opts.Shards <= 0 {
		opts.Shards = 4
	}
	if opts.Retention == 0 {
		opts.Retention = 24 * time.Hour
	}
	if opts.TTLInterval == 0 {
		opts.TTLInterval = time.Second
	}
	db := &DB{opts: opts, tables: map[string]*table{}, streams: map[string]*stream{}, now: time.Now, seq: 10000000000000000000, stop: make(chan struct{})}
	if opts.Dir != "" {
		j, err := journal.Open(filepath.Join(opts.Dir, "journal.log"), db.replay)
		if err != nil {
			return nil, fmt.Errorf("dynamosrv: %w", err)
		}
		db.j = j
		db.trimAll()
		if err := db.compact(); err != nil {
			j.Close()
			return nil, err
		}
	}
	if opts.TTLInterval > 0 {
		db.wg.Add(1)
		go db.ttlLoop()
	}
	return db, nil
}

// Close stops background work and flushes the journal.
func (db *DB) Close() error {
	select {
	case <-db.stop:
		return nil
	default:
	}
	close(db.stop)
	db.wg.Wait()
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.j.Close()
}

func (db *DB) replay(line []byte) error {
	var e logEntry
	if err := json.Unmarshal(line, &e); err != nil {
		return err
	}
	switch e.Op {
	case "table":
		if t := db.tables[e.Table.Name]; t != nil && t.meta.ID == e.Table.ID {
			db.rebuild(t, *e.Table)
		} else {
			db.tables[e.Table.Name] = newTable(*e.Table)
		}
	case "drop":
		delete(db.tables, e.Name)
	case "stream":
		s := e.Stream
		if old := db.streams[s.ARN]; old != nil {
			old.Disabled = s.Disabled
			return nil
		}
		db.addStream(s)
	case "w":
		for _, w := range e.W {
			t := db.tables[w.T]
			if t == nil {
				continue
			}
			if w.Put != nil {
				t.put(w.Put)
			} else if w.Del != nil {
				t.del(w.Del)
			}
			if w.Rec != nil {
				db.replayRec(w.Rec)
			}
		}
	case "rec":
		for _, w := range e.W {
			if w.Rec != nil {
				db.replayRec(w.Rec)
			}
		}
	case "seq":
		if e.Seq > db.seq {
			db.seq = e.Seq
		}
	}
	return nil
}

func (db *DB) replayRec(r *recEntry) {
	if r.Seq > db.seq {
		db.seq = r.Seq
	}
	s := db.streams[r.ARN]
	if s == nil || r.Shard >= len(s.shards) {
		return
	}
	sh := s.shards[r.Shard]
	sh.recs = append(sh.recs, &streamRec{seq: r.Seq, at: r.At, json: r.JSON})
}

func (db *DB) addStream(s *stream) {
	for _, id := range s.ShardIDs {
		s.shards = append(s.shards, &shard{id: id})
	}
	s.wake = make(chan struct{})
	db.streams[s.ARN] = s
}

// compact rewrites the journal as the current state.
func (db *DB) compact() error {
	err := db.j.Rewrite(func(emit func(any) error) error {
		if err := emit(logEntry{Op: "seq", Seq: db.seq}); err != nil {
			return err
		}
		for _, s := range db.sortedStreams() {
			if err := emit(logEntry{Op: "stream", Stream: s}); err != nil {
				return err
			}
			for i, sh := range s.shards {
				var ws []writeEntry
				for _, r := range sh.recs {
					ws = append(ws, writeEntry{Rec: &recEntry{ARN: s.ARN, Shard: i, Seq: r.seq, At: r.at, JSON: r.json}})
					if len(ws) == 500 {
						if err := emit(logEntry{Op: "rec", W: ws}); err != nil {
							return err
						}
						ws = nil
					}
				}
				if len(ws) > 0 {
					if err := emit(logEntry{Op: "rec", W: ws}); err != nil {
						return err
					}
				}
			}
		}
		for _, name := range db.tableNames() {
			t := db.tables[name]
			m := t.meta
			if err := emit(logEntry{Op: "table", Table: &m}); err != nil {
				return err
			}
			var ws []writeEntry
			for _, it := range t.items {
				ws = append(ws, writeEntry{T: name, Put: it})
				if len(ws) == 500 {
					if err := emit(logEntry{Op: "w", W: ws}); err != nil {
						return err
					}
					ws = nil
				}
			}
			if len(ws) > 0 {
				if err := emit(logEntry{Op: "w", W: ws}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("dynamosrv: %w", err)
	}
	return nil
}

func (db *DB) sortedStreams() []*stream {
	out := make([]*stream, 0, len(db.streams))
	for _, s := range db.streams {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ARN < out[j].ARN })
	return out
}

func (db *DB) tableNames() []string {
	out := make([]string, 0, len(db.tables))
	for n := range db.tables {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// rebuild applies changed metadata (indexes added or removed) to a table.
func (db *DB) rebuild(t *table, m tableMeta) {
	nt := newTable(m)
	for _, it := range t.items {
		nt.put(it)
	}
	*t = *nt
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (db *DB) tableARN(name string) string {
	return fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", db.opts.Region, db.opts.Account, name)
}

// newStream creates the table's stream (called with the lock held).
func (db *DB) newStream(t *table, view string) *stream {
	now := db.now().UTC()
	label := now.Format("2006-01-02T15:04:05.000")
	arn := db.tableARN(t.meta.Name) + "/stream/" + label
	for db.streams[arn] != nil { // two streams within a millisecond
		now = now.Add(time.Millisecond)
		label = now.Format("2006-01-02T15:04:05.000")
		arn = db.tableARN(t.meta.Name) + "/stream/" + label
	}
	s := &stream{ARN: arn, Label: label, Table: t.meta.Name, View: view, Created: now, Keys: t.keyDefs()}
	for i := 0; i < db.opts.Shards; i++ {
		s.ShardIDs = append(s.ShardIDs, fmt.Sprintf("shardId-%020d-%s", now.UnixMilli(), randomHex(4)))
	}
	db.addStream(s)
	return s
}

// change is one item write about to be committed.
type change struct {
	t        *table
	old, new Item
	ttl      bool // removed by time to live
}

type streamRecordJSON struct {
	EventID      string         `json:"eventID"`
	EventName    string         `json:"eventName"`
	EventVersion string         `json:"eventVersion"`
	EventSource  string         `json:"eventSource"`
	AWSRegion    string         `json:"awsRegion"`
	DynamoDB     streamDynamoDB `json:"dynamodb"`
	UserIdentity *userIdentity  `json:"userIdentity,omitempty"`
}

type streamDynamoDB struct {
	ApproximateCreationDateTime int64  `json:"ApproximateCreationDateTime"`
	Keys                        Item   `json:"Keys"`
	NewImage                    Item   `json:"NewImage,omitempty"`
	OldImage                    Item   `json:"OldImage,omitempty"`
	SequenceNumber              string `json:"SequenceNumber"`
	SizeBytes                   int    `json:"SizeBytes"`
	StreamViewType              string `json:"StreamViewType"`
}

type userIdentity struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
}

// commit applies changes atomically: storage, indexes, stream records and
// the journal. Changes that change nothing write no stream record. The
// caller holds the write lock.
func (db *DB) commit(cs []change) error {
	now := db.now()
	var ws []writeEntry
	var woke []*stream
	for _, c := range cs {
		w := writeEntry{T: c.t.meta.Name}
		if c.new != nil {
			w.Put = c.new
		} else {
			w.Del = c.t.keyOf(c.old)
		}
		if c.t.meta.StreamView != "" && !(c.old == nil && c.new == nil) && !(c.old != nil && c.new != nil && equalItems(c.old, c.new)) {
			s := db.streams[c.t.meta.StreamARN]
			if s != nil && !s.Disabled {
				w.Rec = db.record(s, c, now)
				woke = append(woke, s)
			}
		}
		ws = append(ws, w)
	}
	if err := db.j.Append(logEntry{Op: "w", W: ws}); err != nil {
		return &APIError{Type: "InternalServerError", Message: err.Error(), Status: 500}
	}
	for i, c := range cs {
		if c.new != nil {
			c.t.put(c.new)
		} else if c.old != nil {
			c.t.del(c.old)
		}
		if r := ws[i].Rec; r != nil {
			s := db.streams[r.ARN]
			sh := s.shards[r.Shard]
			sh.recs = append(sh.recs, &streamRec{seq: r.Seq, at: r.At, json: r.JSON})
			db.trim(sh, now)
		}
	}
	for _, s := range woke {
		close(s.wake)
		s.wake = make(chan struct{})
	}
	return nil
}

func (db *DB) record(s *stream, c change, now time.Time) *recEntry {
	db.seq++
	ref := c.new
	name := "MODIFY"
	switch {
	case c.old == nil:
		name = "INSERT"
	case c.new == nil:
		name, ref = "REMOVE", c.old
	}
	keys := c.t.keyOf(ref)
	r := streamRecordJSON{
		EventID:      randomHex(16),
		EventName:    name,
		EventVersion: "1.1",
		EventSource:  "aws:dynamodb",
		AWSRegion:    db.opts.Region,
		DynamoDB: streamDynamoDB{
			ApproximateCreationDateTime: now.Unix(),
			Keys:                        keys,
			SequenceNumber:              strconv.FormatUint(db.seq, 10),
			StreamViewType:              s.View,
		},
	}
	size := keys.size()
	if c.new != nil && (s.View == "NEW_IMAGE" || s.View == "NEW_AND_OLD_IMAGES") {
		r.DynamoDB.NewImage = c.new
		size += c.new.size()
	}
	if c.old != nil && (s.View == "OLD_IMAGE" || s.View == "NEW_AND_OLD_IMAGES") {
		r.DynamoDB.OldImage = c.old
		size += c.old.size()
	}
	r.DynamoDB.SizeBytes = size
	if c.ttl {
		r.UserIdentity = &userIdentity{Type: "Service", PrincipalID: "dynamodb.amazonaws.com"}
	}
	js, _ := json.Marshal(r)
	shardIx := int(hash32(encKey(keys[c.t.meta.PK.Name])) % uint32(len(s.shards)))
	return &recEntry{ARN: s.ARN, Shard: shardIx, Seq: db.seq, At: now, JSON: js}
}

// trim drops records older than the retention.
func (db *DB) trim(sh *shard, now time.Time) {
	cut := now.Add(-db.opts.Retention)
	n := 0
	for n < len(sh.recs) && sh.recs[n].at.Before(cut) {
		n++
	}
	if n > 0 {
		sh.recs = append([]*streamRec(nil), sh.recs[n:]...)
		sh.trimmed += int64(n)
	}
}

func (db *DB) trimAll() {
	now := db.now()
	for _, s := range db.streams {
		for _, sh := range s.shards {
			db.trim(sh, now)
		}
	}
}

func (db *DB) ttlLoop() {
	defer db.wg.Done()
	tick := time.NewTicker(db.opts.TTLInterval)
	defer tick.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-tick.C:
			db.expire()
		}
	}
}

// expire removes items whose time-to-live attribute (epoch seconds) has
// passed, with stream records marked as the service's deletions.
func (db *DB) expire() {
	db.mu.Lock()
	defer db.mu.Unlock()
	now := db.now().Unix()
	for _, t := range db.tables {
		if !t.meta.TTLEnabled || t.meta.TTLAttr == "" {
			continue
		}
		var cs []change
		for _, it := range t.items {
			v := it[t.meta.TTLAttr]
			if v == nil || v.K != KN {
				continue
			}
			f, err := strconv.ParseFloat(v.Str, 64)
			if err != nil || f <= 0 || int64(f) > now || f < float64(now)-5*365*86400 {
				continue
			}
			cs = append(cs, change{t: t, old: it, ttl: true})
		}
		if len(cs) > 0 {
			db.commit(cs)
		}
	}
}
