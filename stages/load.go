package stages

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/internal/itemsize"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// Format is how Load reads an upload.
type Format string

// Formats Load reads. Any of them may be gzip-compressed: Load recognises
// gzip by its magic bytes, whatever the key's suffix.
const (
	// Auto picks the format by the key's suffix (a trailing .gz is
	// ignored): .csv is CSV, .tsv and .tab are TSV, .jsonl and .ndjson are
	// JSON lines. Other suffixes are refused in the report.
	Auto Format = ""
	// CSV is comma-separated values (RFC 4180: quoted fields may hold
	// delimiters and newlines) with a header row naming the columns.
	CSV Format = "csv"
	// TSV is CSV with a tab as delimiter.
	TSV Format = "tsv"
	// JSONLines is one JSON object per line; blank lines are skipped.
	JSONLines Format = "jsonl"
)

// Load defaults and limits.
const (
	DefaultWriters   = 4    // concurrent BatchWriteItem calls
	MaxWriters       = 32   // more rarely helps one Lambda function
	DefaultMaxErrors = 1000 // invalid rows listed in a report
	// ReportSuffix ends the name of a load's report object.
	ReportSuffix = ".errors.json"
	// maxLineBytes bounds one JSON line; DynamoDB items are at most 400 KB.
	maxLineBytes = 1 << 20
	// maxRecordText is how much of an invalid row a report quotes.
	maxRecordText = 512
)

// Row says where a row comes from, for Check functions and reports.
type Row struct {
	// Source is the key of the uploaded object.
	Source string
	// Line is the row's line in the object (1-based; the header is line 1
	// of a CSV with a header row).
	Line int
}

// LoadOption configures Load.
type LoadOption func(*loadConfig)

type loadConfig struct {
	format       Format
	comma        rune
	header       []string
	writers      int
	maxErrors    int
	reportBucket *pipeline.Bucket
	reportPrefix string
	check        any
	errs         []string
}

// ReadAs fixes the format instead of picking it by the key's suffix.
func ReadAs(f Format) LoadOption {
	return func(c *loadConfig) {
		switch f {
		case Auto, CSV, TSV, JSONLines:
			c.format = f
		default:
			c.errs = append(c.errs, fmt.Sprintf("ReadAs(%q): use stages.CSV, stages.TSV, stages.JSONLines or stages.Auto", f))
		}
	}
}

// Delimiter sets the field delimiter of CSV files (default ',').
func Delimiter(r rune) LoadOption {
	return func(c *loadConfig) {
		if r == '"' || r == '\r' || r == '\n' || r == 0xFFFD || r <= 0 {
			c.errs = append(c.errs, fmt.Sprintf("Delimiter(%q) cannot delimit CSV fields; use ',', ';', '\\t' or '|'", r))
		}
		c.comma = r
	}
}

// Header names the columns of delimited files that have no header row:
// every line is then a data row.
func Header(columns ...string) LoadOption {
	return func(c *loadConfig) {
		if len(columns) == 0 {
			c.errs = append(c.errs, "Header() without columns; name them, or leave Header out when files have a header row")
		}
		c.header = append([]string(nil), columns...)
	}
}

// Writers sets how many BatchWriteItem calls run at once (1-32, default
// 4). More load faster while the table keeps up; a table that throttles
// returns unprocessed items, which are retried with backoff.
func Writers(n int) LoadOption {
	return func(c *loadConfig) {
		if n < 1 || n > MaxWriters {
			c.errs = append(c.errs, fmt.Sprintf("Writers(%d) out of range: use 1 to %d", n, MaxWriters))
		}
		c.writers = n
	}
}

// MaxErrors sets how many invalid rows a report lists (default 1000);
// further ones are only counted.
func MaxErrors(n int) LoadOption {
	return func(c *loadConfig) {
		if n < 0 {
			c.errs = append(c.errs, fmt.Sprintf("MaxErrors(%d) is negative", n))
		}
		c.maxErrors = n
	}
}

// ReportTo writes reports into bucket b under prefix instead of next to
// the upload: the report of incoming/a/b.csv loaded by a stage triggered
// on prefix incoming/ is PREFIX + a/b.csv + ReportSuffix.
func ReportTo(b *pipeline.Bucket, prefix string) LoadOption {
	return func(c *loadConfig) { c.reportBucket, c.reportPrefix = b, prefix }
}

// Check runs fn on every decoded row before it is written: fn validates
// the row and may complete it (derived fields, the source it came from).
// An error marks the row invalid: it is listed in the report and not
// written. T must be the row type of the Load it is given to.
func Check[T any](fn func(row *T, at Row) error) LoadOption {
	return func(c *loadConfig) { c.check = fn }
}

// Report is what a load leaves next to its upload (see ReportSuffix) when
// rows were invalid, when the file could not be loaded at all, or while a
// load that ran out of time waits for its retry to resume it. A load with
// nothing to report removes an earlier report of the same key.
type Report struct {
	// Source is the upload, s3://bucket/key, and ETag its version.
	Source string `json:"source"`
	ETag   string `json:"etag"`
	// Table is the declared name of the table the rows go to.
	Table string `json:"table"`
	// Complete is false while the load waits to be resumed.
	Complete bool `json:"complete"`
	// Error is why the file as a whole could not be loaded (a header
	// without the key columns, an unreadable format), or "".
	Error string `json:"error,omitempty"`
	// Rows counts the data rows read, Loaded the valid ones written,
	// Invalid the others.
	Rows    int64 `json:"rows"`
	Loaded  int64 `json:"loaded"`
	Invalid int64 `json:"invalid"`
	// IgnoredColumns are header columns no field of the row type takes.
	IgnoredColumns []string `json:"ignored_columns,omitempty"`
	// Errors lists the first invalid rows (MaxErrors); Unlisted counts
	// the rest.
	Errors   []RowError `json:"errors"`
	Unlisted int64      `json:"unlisted,omitempty"`
	// Resume is where an incomplete load goes on.
	Resume *ResumePoint `json:"resume,omitempty"`
}

// RowError is one invalid row of a report.
type RowError struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
	// Record is the row's text, cut at 512 bytes.
	Record string `json:"record"`
}

// ResumePoint is where an interrupted load continues: after Offset bytes
// (of the decompressed content) and Line lines.
type ResumePoint struct {
	Offset int64    `json:"offset"`
	Line   int      `json:"line"`
	Header []string `json:"header,omitempty"`
	Gzip   bool     `json:"gzip,omitempty"`
	Format Format   `json:"format"`
}

// Load declares a stage that loads every uploaded CSV, TSV or JSON-lines
// object its trigger fires on into table, one item per valid row, as
// values of T (a struct with `dynamodbav` tags, or map[string]any).
//
//	stages.Load[Customer](app, "load", uploads.Created(triggers.Prefix("incoming/"), triggers.Suffix(".csv")), customers).
//		Timeout(5 * time.Minute)
//
// It declares its grants: reading the keys its trigger matches, writing
// the table, and reading and writing the reports (keys ending in
// ReportSuffix next to the uploads, or where ReportTo says).
//
// Rows are streamed from S3 and written with BatchWriteItem, 25 items a
// call on Writers concurrent calls; unprocessed items are retried with
// exponential backoff and jitter. A row is invalid when it does not
// decode into T, when T's Validate() error method (if it has one) or the
// Check option refuses it, when a key attribute is missing or empty, or
// when the item exceeds DynamoDB's 400 KB: invalid rows are listed in the
// report, the others are loaded.
//
// Under at-least-once delivery a load is idempotent: rows are put, so
// loading twice leaves the same items (and DynamoDB writes no stream
// record for a put that changes nothing). An event whose object is gone
// or was replaced since is skipped: the newer version has its own event.
//
// Before the function's timeout, with a tenth of the time left (at least
// a second, at most 30), the stage stops reading, waits for its writes,
// records where it stopped in the report and fails, so Lambda's retry of
// the event resumes there instead of starting over. See the package
// documentation for sizing.
func Load[T any](app *pipeline.App, name string, t triggers.ObjectTrigger, table *pipeline.Table, opts ...LoadOption) (s *pipeline.Stage) {
	defer refusedObject(app, name, t, &s)
	src := sourceBucket(app, name, t)
	ownTable(app, name, table, "the table to load")
	if !createdOnly(t) {
		declError(name, "Load needs an ObjectCreated trigger (uploads.Created(...)), not %v", t.Events)
	}
	c := loadConfig{comma: ',', writers: DefaultWriters, maxErrors: DefaultMaxErrors}
	for _, o := range opts {
		if o == nil {
			declError(name, "nil LoadOption")
		}
		o(&c)
	}
	if len(c.errs) > 0 {
		declError(name, "%s", strings.Join(c.errs, "; "))
	}
	if c.check != nil {
		if _, ok := c.check.(func(*T, Row) error); !ok {
			declError(name, "Check is for rows of type %T, but the stage loads %v; use stages.Check[%v]", c.check, typeName[T](), typeName[T]())
		}
	}
	rt, err := newRowType[T]()
	if err != nil {
		declError(name, "%v", err)
	}
	if err := rt.checkKeys(table); err != nil {
		declError(name, "%v", err)
	}
	l := &loader[T]{name: name, src: src, trigger: t, table: table, keys: tableKeys(table), cfg: c, rt: rt}
	l.reportBucket, l.reportPrefix = src, t.Prefix
	if c.reportBucket != nil {
		ownBucket(app, name, c.reportBucket, "the ReportTo bucket")
		l.reportBucket, l.reportPrefix = c.reportBucket, c.reportPrefix
	}
	reports := l.reportBucket.Keys(l.reportPrefix, ReportSuffix)
	return pipeline.OnObject(app, name, t, l.load).
		Reads(src.Keys(t.Prefix, t.Suffix), reports).
		Writes(table, reports)
}

func typeName[T any]() string { return fmt.Sprintf("%T", *new(T)) }

type loader[T any] struct {
	name         string
	src          *pipeline.Bucket
	trigger      triggers.ObjectTrigger
	table        *pipeline.Table
	keys         []pipeline.KeyAttr
	cfg          loadConfig
	rt           *rowType
	reportBucket *pipeline.Bucket
	reportPrefix string
}

func (l *loader[T]) reportKey(key string) string {
	return l.reportPrefix + strings.TrimPrefix(key, l.trigger.Prefix) + ReportSuffix
}

// permanentError is a problem of the file itself: retrying cannot help,
// so it goes into the report and the event succeeds.
type permanentError struct{ msg string }

func (e permanentError) Error() string { return e.msg }

// loadRun is the state of one invocation's load of one object.
type loadRun[T any] struct {
	*loader[T]
	ctx     context.Context
	o       triggers.Object
	rep     *Report
	w       *writer
	stopAt  time.Time
	stopped bool // ran out of time
	point   ResumePoint
}

func (l *loader[T]) load(ctx context.Context, o triggers.Object) error {
	start := time.Now()
	log := pipeline.Logger(ctx)
	srcName := l.src.PhysicalName(ctx)
	where := fmt.Sprintf("s3://%s/%s", srcName, o.Key)
	reportKey := l.reportKey(o.Key)

	prev, err := l.readReport(ctx, reportKey)
	if err != nil {
		return fmt.Errorf("load %s: %w", where, err)
	}
	if prev != nil && prev.ETag == o.ETag && prev.Complete {
		log.Info("already loaded: the report of this version exists", "source", where, "report", reportKey)
		return nil
	}
	r := &loadRun[T]{loader: l, ctx: ctx, o: o}
	r.rep = &Report{Source: where, ETag: o.ETag, Table: l.table.Name(), Errors: []RowError{}}
	if prev != nil && prev.ETag == o.ETag && prev.Resume != nil {
		r.rep = prev
		r.rep.Source = where
		r.point = *prev.Resume
		log.Info("resuming an interrupted load", "source", where, "offset", r.point.Offset, "line", r.point.Line)
	}
	r.rep.Resume = nil
	if dl, ok := ctx.Deadline(); ok {
		margin := min(max(time.Until(dl)/10, time.Second), 30*time.Second)
		r.stopAt = dl.Add(-margin)
	}

	base := *r.rep
	r.w = newWriter(ctx, l.table.DynamoDB(ctx), l.table.PhysicalName(ctx), l.cfg.writers)
	readErr := r.read(srcName)
	_, writeErr := r.w.close()

	var skip skipError
	var perm permanentError
	switch {
	case errors.As(readErr, &skip):
		log.Info("skipped: "+skip.why, "source", where)
		return nil
	case writeErr != nil:
		// Some batch failed: what this run did is uncertain, so keep the
		// previous resume point; rows written twice are harmless.
		if prev != nil && prev.ETag == o.ETag && prev.Resume != nil {
			base.Resume = prev.Resume
			if err := l.writeReport(ctx, reportKey, &base); err != nil {
				log.Warn("could not keep the report", "report", reportKey, "error", err.Error())
			}
		}
		return fmt.Errorf("load %s into table %s: %w", where, l.table.Name(), writeErr)
	case errors.As(readErr, &perm):
		r.rep.Complete, r.rep.Error = true, perm.msg
		log.Warn("file refused", "source", where, "reason", perm.msg, "report", reportKey)
		return l.finish(ctx, reportKey, r.rep, prev != nil)
	case readErr != nil || r.stopped:
		p := r.point
		r.rep.Resume = &p
		if err := l.writeReport(context.WithoutCancel(ctx), reportKey, r.rep); err != nil {
			log.Warn("could not record where the load stopped", "report", reportKey, "error", err.Error())
		}
		if readErr == nil {
			readErr = fmt.Errorf("stopped at line %d (%d rows loaded so far) to finish before the function's timeout; the retry of this event resumes there (give the stage a longer Timeout or more Writers to load it in one invocation)", p.Line, r.rep.Loaded)
		}
		return fmt.Errorf("load %s into table %s: %w", where, l.table.Name(), readErr)
	}
	r.rep.Complete = true
	log.Info("loaded", "source", where, "table", l.table.Name(), "rows", r.rep.Rows, "loaded", r.rep.Loaded, "invalid", r.rep.Invalid, "duration_ms", time.Since(start).Milliseconds())
	return l.finish(ctx, reportKey, r.rep, prev != nil)
}

// finish writes the report of a completed load, or removes a stale one
// when there is nothing to report.
func (l *loader[T]) finish(ctx context.Context, key string, rep *Report, existed bool) error {
	if rep.Invalid > 0 || rep.Error != "" {
		if err := l.writeReport(ctx, key, rep); err != nil {
			return fmt.Errorf("load %s: %w", rep.Source, err)
		}
		return nil
	}
	if existed {
		if err := l.reportBucket.Delete(ctx, key); err != nil {
			return fmt.Errorf("load %s: remove the stale report: %w", rep.Source, err)
		}
	}
	return nil
}

func (l *loader[T]) readReport(ctx context.Context, key string) (*Report, error) {
	data, err := l.reportBucket.Get(ctx, key)
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the report: %w", err)
	}
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		// Not ours, or damaged: start over and replace it.
		return nil, nil
	}
	return &rep, nil
}

func (l *loader[T]) writeReport(ctx context.Context, key string, rep *Report) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return l.reportBucket.Put(ctx, key, append(data, '\n'), pipeline.ContentType("application/json"))
}

type skipError struct{ why string }

func (e skipError) Error() string { return e.why }

// open opens the version of the object the event is about, from offset.
func (r *loadRun[T]) open(bucket string, offset int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: &bucket, Key: &r.o.Key}
	if r.o.ETag != "" {
		in.IfMatch = aws.String(`"` + r.o.ETag + `"`)
	}
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := r.src.S3(r.ctx).GetObject(r.ctx, in)
	switch {
	case notFound(err):
		return nil, skipError{"the object is gone (a removal came after the upload)"}
	case preconditionFailed(err):
		return nil, skipError{"the object was replaced since; the newer version's event loads it"}
	case apiCode(err) == "InvalidRange":
		return io.NopCloser(bytes.NewReader(nil)), nil
	case err != nil:
		return nil, fmt.Errorf("get: %w", err)
	}
	return out.Body, nil
}

// read streams the rows of the object into the writer.
func (r *loadRun[T]) read(bucket string) error {
	p := &r.point
	rangeFrom := int64(0)
	if p.Offset > 0 && !p.Gzip {
		rangeFrom = p.Offset
	}
	body, err := r.open(bucket, rangeFrom)
	if err != nil {
		return err
	}
	defer body.Close()
	br := bufio.NewReaderSize(body, 256<<10)
	var in io.Reader = br
	if magic, _ := br.Peek(2); rangeFrom == 0 && len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return permanentError{fmt.Sprintf("not a readable gzip file: %v", err)}
		}
		defer zr.Close()
		in = zr
		p.Gzip = true
	}
	if p.Gzip && p.Offset > 0 {
		if _, err := io.CopyN(io.Discard, in, p.Offset); err != nil {
			return fmt.Errorf("skip to offset %d of the decompressed content: %w", p.Offset, err)
		}
	}
	if p.Format == Auto {
		f, err := r.format()
		if err != nil {
			return err
		}
		p.Format = f
	}
	if p.Format == JSONLines {
		return r.readJSONLines(in)
	}
	return r.readDelimited(in)
}

func (r *loadRun[T]) format() (Format, error) {
	if r.cfg.format != Auto {
		return r.cfg.format, nil
	}
	k := strings.ToLower(strings.TrimSuffix(strings.ToLower(r.o.Key), ".gz"))
	switch {
	case strings.HasSuffix(k, ".csv"):
		return CSV, nil
	case strings.HasSuffix(k, ".tsv"), strings.HasSuffix(k, ".tab"):
		return TSV, nil
	case strings.HasSuffix(k, ".jsonl"), strings.HasSuffix(k, ".ndjson"):
		return JSONLines, nil
	}
	return "", permanentError{fmt.Sprintf("cannot tell the format of %q from its suffix (.csv, .tsv, .jsonl or .ndjson, optionally .gz); declare it with stages.ReadAs", r.o.Key)}
}

// stopEarly, set by tests, makes a load stop as if out of time.
var stopEarly func(rows int64) bool

// due reports whether it is time to stop reading.
func (r *loadRun[T]) due() bool {
	if r.ctx.Err() != nil || (stopEarly != nil && stopEarly(r.rep.Rows)) {
		return true
	}
	return !r.stopAt.IsZero() && time.Now().After(r.stopAt)
}

// row handles one decoded (or undecodable) row; false stops the read.
func (r *loadRun[T]) row(line int, text func() string, v T, decodeErr error) bool {
	r.rep.Rows++
	err := decodeErr
	if err == nil {
		err = r.prepare(&v, line)
	}
	var item map[string]types.AttributeValue
	if err == nil {
		item, err = attributevalue.MarshalMap(v)
		if err != nil {
			err = fmt.Errorf("marshal: %w", err)
		}
	}
	if err == nil {
		err = checkKey(item, r.keys, r.table.Name())
	}
	if err == nil {
		if n := itemsize.Item(item); n > itemsize.Limit {
			err = fmt.Errorf("the item is %d bytes; DynamoDB items are at most %d", n, itemsize.Limit)
		}
	}
	if err != nil {
		r.rep.Invalid++
		if len(r.rep.Errors) < r.cfg.maxErrors {
			t := text()
			if len(t) > maxRecordText {
				t = t[:maxRecordText]
			}
			r.rep.Errors = append(r.rep.Errors, RowError{Line: line, Error: err.Error(), Record: t})
		} else {
			r.rep.Unlisted++
		}
		return true
	}
	r.rep.Loaded++
	return r.w.add(keyString(item, r.keys), types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
}

func (r *loadRun[T]) prepare(v *T, line int) error {
	if val, ok := any(v).(interface{ Validate() error }); ok {
		if err := val.Validate(); err != nil {
			return err
		}
	}
	if fn, ok := r.cfg.check.(func(*T, Row) error); ok {
		if err := fn(v, Row{Source: r.o.Key, Line: line}); err != nil {
			return err
		}
	}
	return nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (r *loadRun[T]) readDelimited(in io.Reader) error {
	p := &r.point
	cr := csv.NewReader(in)
	cr.Comma = r.cfg.comma
	if p.Format == TSV && r.cfg.comma == ',' {
		cr.Comma = '\t'
	}
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	base, baseLine := p.Offset, p.Line
	header := p.Header
	if header == nil {
		header = r.cfg.header
	}
	if header == nil {
		h, err := cr.Read()
		if err == io.EOF {
			return nil // an empty file loads nothing
		}
		if err != nil {
			return permanentError{fmt.Sprintf("read the header row: %v", err)}
		}
		header = make([]string, len(h))
		for i, c := range h {
			header[i] = strings.TrimSpace(c)
		}
		header[0] = strings.TrimPrefix(header[0], "\uFEFF")
		p.Offset, p.Line = base+cr.InputOffset(), baseLine+1
	}
	p.Header = header
	cols, unknown := r.rt.columns(header)
	r.rep.IgnoredColumns = unknown
	if r.cfg.check == nil {
		// Without a Check that could derive them, rows can only get their
		// keys from columns: a header without them fails every row.
		for _, k := range r.keys {
			if !r.rt.hasColumnFor(k.Name, header, cols) {
				return permanentError{fmt.Sprintf("the header %q has no column for key attribute %q of table %s", joinCSV(header, cr.Comma), k.Name, r.table.Name())}
			}
		}
	}
	for n := 0; ; n++ {
		if n%64 == 0 && r.due() {
			r.stopped = true
			return nil
		}
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			r.row(baseLine+pe.StartLine, func() string { return joinCSV(rec, cr.Comma) }, *new(T), fmt.Errorf("malformed CSV: %v", pe.Err))
			p.Offset, p.Line = base+cr.InputOffset(), baseLine+pe.Line
			continue
		case err != nil:
			return fmt.Errorf("read line %d: %w", p.Line+1, err)
		}
		first, _ := cr.FieldPos(0)
		last, _ := cr.FieldPos(len(rec) - 1)
		line := baseLine + first
		text := func() string { return joinCSV(rec, cr.Comma) }
		var more bool
		if len(rec) != len(header) {
			more = r.row(line, text, *new(T), fmt.Errorf("%d fields, but the header has %d columns", len(rec), len(header)))
		} else {
			v, derr := fromCells[T](r.rt, header, cols, rec)
			more = r.row(line, text, v, derr)
		}
		if !more {
			return nil
		}
		p.Offset, p.Line = base+cr.InputOffset(), baseLine+last+strings.Count(rec[len(rec)-1], "\n")
	}
}

func joinCSV(rec []string, comma rune) string {
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Comma = comma
	w.Write(rec)
	w.Flush()
	return strings.TrimRight(b.String(), "\n")
}

func (r *loadRun[T]) readJSONLines(in io.Reader) error {
	p := &r.point
	br := bufio.NewReaderSize(in, 64<<10)
	var long []byte
	for n := 0; ; n++ {
		if n%64 == 0 && r.due() {
			r.stopped = true
			return nil
		}
		chunk, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if len(long) <= maxLineBytes {
				long = append(long, chunk...)
			}
			p.Offset += int64(len(chunk))
			continue
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("read line %d: %w", p.Line+1, err)
		}
		if len(chunk) == 0 && err == io.EOF {
			return nil
		}
		consumed := int64(len(chunk))
		line := chunk
		tooLong := false
		if long != nil {
			tooLong = len(long)+len(chunk) > maxLineBytes
			line = append(long, chunk...)
			long = nil
		}
		lineNo := p.Line + 1
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) > 0 {
			var v T
			var derr error
			if tooLong {
				derr = fmt.Errorf("the line is longer than %d bytes", maxLineBytes)
			} else if derr = json.Unmarshal(trimmed, &v); derr != nil {
				derr = fmt.Errorf("invalid JSON: %v", derr)
			}
			text := func() string { return string(trimmed) }
			if !r.row(lineNo, text, v, derr) {
				return nil
			}
		}
		p.Offset += consumed
		p.Line = lineNo
		if err == io.EOF {
			return nil
		}
	}
}
