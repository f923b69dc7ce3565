package dynamosrv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

var reqCounter atomic.Uint64

// ServeHTTP serves DynamoDB (X-Amz-Target DynamoDB_20120810.*) and DynamoDB
// Streams (DynamoDBStreams_20120810.*) requests.
func (db *DB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	svc, op, _ := strings.Cut(target, ".")
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		writeError(w, &APIError{Type: "SerializationException", Message: err.Error(), Status: 400})
		return
	}
	var out any
	switch svc {
	case "DynamoDB_20120810":
		out, err = db.dispatch(op, body)
	case "DynamoDBStreams_20120810":
		out, err = db.dispatchStreams(op, body)
	default:
		err = &APIError{Type: "UnknownOperationException", Message: "Unknown operation " + target, Status: 400}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func writeJSON(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10))
	h.Set("X-Amzn-Requestid", fmt.Sprintf("%08X%024X", time.Now().Unix(), reqCounter.Add(1)))
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func writeError(w http.ResponseWriter, err error) {
	var ae *APIError
	if !errors.As(err, &ae) {
		var ve valueError
		if errors.As(err, &ve) {
			ae = &APIError{Type: "ValidationException", Message: ve.msg, Status: 400}
		} else if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
			ae = &APIError{Type: "SerializationException", Message: err.Error(), Status: 400}
		} else if ue := (*json.UnmarshalTypeError)(nil); errors.As(err, &ue) {
			ae = &APIError{Type: "SerializationException", Message: err.Error(), Status: 400}
		} else {
			ae = &APIError{Type: "InternalServerError", Message: err.Error(), Status: 500}
		}
	}
	body := map[string]any{"__type": "com.amazonaws.dynamodb.v20120810#" + ae.Type, "message": ae.Message}
	if ae.Type == "TransactionCanceledException" {
		delete(body, "message")
		body["Message"] = ae.Message
		body["CancellationReasons"] = ae.Reasons
	}
	if ae.Item != nil {
		body["Item"] = ae.Item
	}
	b, _ := json.Marshal(body)
	w.Header().Set("X-Amzn-Errortype", ae.Type)
	writeJSON(w, ae.Status, b)
}

func decode[T any](body []byte, fn func(T) (any, error)) (any, error) {
	var in T
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&in); err != nil {
		var ve valueError
		if errors.As(err, &ve) {
			return nil, validation(ve.msg)
		}
		return nil, &APIError{Type: "SerializationException", Message: "Start of structure or map found where not expected: " + err.Error(), Status: 400}
	}
	return fn(in)
}

func (db *DB) dispatch(op string, body []byte) (any, error) {
	switch op {
	case "CreateTable":
		return decode(body, db.createTable)
	case "DescribeTable":
		return decode(body, db.describeTable)
	case "DeleteTable":
		return decode(body, db.deleteTable)
	case "ListTables":
		return decode(body, db.listTables)
	case "UpdateTable":
		return decode(body, db.updateTable)
	case "UpdateTimeToLive":
		return decode(body, db.updateTTL)
	case "DescribeTimeToLive":
		return decode(body, db.describeTTL)
	case "PutItem":
		return decode(body, db.putItem)
	case "GetItem":
		return decode(body, db.getItem)
	case "UpdateItem":
		return decode(body, db.updateItem)
	case "DeleteItem":
		return decode(body, db.deleteItem)
	case "Query":
		return decode(body, db.query)
	case "Scan":
		return decode(body, db.scan)
	case "BatchWriteItem":
		return decode(body, db.batchWrite)
	case "BatchGetItem":
		return decode(body, db.batchGet)
	case "TransactWriteItems":
		return decode(body, db.transactWrite)
	case "TransactGetItems":
		return decode(body, db.transactGet)
	case "TagResource":
		return decode(body, func(in tagInput) (any, error) { return db.tagResource(in, false) })
	case "UntagResource":
		return decode(body, func(in tagInput) (any, error) { return db.tagResource(in, true) })
	case "ListTagsOfResource":
		return decode(body, db.listTags)
	case "DescribeEndpoints":
		return map[string]any{"Endpoints": []map[string]any{{"Address": "127.0.0.1", "CachePeriodInMinutes": 1440}}}, nil
	case "DescribeLimits":
		return map[string]any{"AccountMaxReadCapacityUnits": 80000, "AccountMaxWriteCapacityUnits": 80000, "TableMaxReadCapacityUnits": 40000, "TableMaxWriteCapacityUnits": 40000}, nil
	case "DescribeContinuousBackups":
		return map[string]any{"ContinuousBackupsDescription": map[string]any{"ContinuousBackupsStatus": "DISABLED", "PointInTimeRecoveryDescription": map[string]any{"PointInTimeRecoveryStatus": "DISABLED"}}}, nil
	}
	return nil, &APIError{Type: "UnknownOperationException", Message: "The nanopipe local environment does not implement DynamoDB operation " + op, Status: 400}
}

func (db *DB) dispatchStreams(op string, body []byte) (any, error) {
	switch op {
	case "ListStreams":
		return decode(body, db.listStreams)
	case "DescribeStream":
		return decode(body, db.describeStream)
	case "GetShardIterator":
		return decode(body, db.getShardIterator)
	case "GetRecords":
		return decode(body, db.getRecords)
	}
	return nil, &APIError{Type: "UnknownOperationException", Message: "Unknown DynamoDB Streams operation " + op, Status: 400}
}

// Table is what the environment needs to create a declared table.
type Table struct {
	Name       string
	PK         KeyDef
	SK         *KeyDef
	StreamView string // "" for no stream
	TTLAttr    string
	// Indexes are the secondary indexes of the table, projecting every
	// attribute: created with it, or (global ones) added to it.
	Indexes []Index
}

// Index is a secondary index of a Table: Local ones share the table's
// partition key.
type Index struct {
	Name  string
	PK    KeyDef
	SK    *KeyDef
	Local bool
}

// Ensure creates the table if it does not exist, and brings its stream and
// time to live in line with the declaration if it does. An existing table
// gets the declared global indexes it lacks, filled from its items; a
// declared local index it lacks, or an index keyed otherwise than
// declared, is an *IndexMismatchError (see MissingIndexes).
func (db *DB) Ensure(t Table) error {
	db.mu.RLock()
	cur := db.tables[t.Name]
	db.mu.RUnlock()
	if cur == nil {
		defs := []attributeDefinition{{t.PK.Name, t.PK.Type}}
		ks := []keySchemaElement{{t.PK.Name, "HASH"}}
		if t.SK != nil {
			defs = append(defs, attributeDefinition{t.SK.Name, t.SK.Type})
			ks = append(ks, keySchemaElement{t.SK.Name, "RANGE"})
		}
		in := createTableInput{TableName: t.Name, AttributeDefinitions: defs, KeySchema: ks, BillingMode: "PAY_PER_REQUEST"}
		defined := map[string]bool{t.PK.Name: true}
		if t.SK != nil {
			defined[t.SK.Name] = true
		}
		for _, ix := range t.Indexes {
			ii := indexInput{IndexName: ix.Name, Projection: projectionJSON{ProjectionType: "ALL"}}
			for _, k := range []struct {
				d    *KeyDef
				role string
			}{{&ix.PK, "HASH"}, {ix.SK, "RANGE"}} {
				if k.d == nil {
					continue
				}
				ii.KeySchema = append(ii.KeySchema, keySchemaElement{k.d.Name, k.role})
				if !defined[k.d.Name] {
					defined[k.d.Name] = true
					in.AttributeDefinitions = append(in.AttributeDefinitions, attributeDefinition{k.d.Name, k.d.Type})
				}
			}
			if ix.Local {
				in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, ii)
			} else {
				in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ii)
			}
		}
		if t.StreamView != "" {
			in.StreamSpecification = &streamSpec{StreamEnabled: true, StreamViewType: t.StreamView}
		}
		if _, err := db.createTable(in); err != nil {
			return err
		}
	} else {
		if err := db.addIndexes(t); err != nil {
			return err
		}
		db.mu.RLock()
		view := cur.meta.StreamView
		db.mu.RUnlock()
		if view != t.StreamView {
			if view != "" {
				if _, err := db.updateTable(updateTableInput{TableName: t.Name, StreamSpecification: &streamSpec{StreamEnabled: false}}); err != nil {
					return err
				}
			}
			if t.StreamView != "" {
				if _, err := db.updateTable(updateTableInput{TableName: t.Name, StreamSpecification: &streamSpec{StreamEnabled: true, StreamViewType: t.StreamView}}); err != nil {
					return err
				}
			}
		}
	}
	if t.TTLAttr != "" {
		db.mu.RLock()
		enabled := db.tables[t.Name].meta.TTLEnabled
		db.mu.RUnlock()
		if !enabled {
			if _, err := db.updateTTL(updateTTLInput{TableName: t.Name, TimeToLiveSpecification: ttlSpec{AttributeName: t.TTLAttr, Enabled: true}}); err != nil {
				return err
			}
		}
	}
	return nil
}
