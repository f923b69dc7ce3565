package dynamosrv

import (
	"errors"
	"fmt"
	"strings"
)

// ---- transactions

type transactWriteInput struct {
	TransactItems []struct {
		ConditionCheck *keyInput `json:"ConditionCheck"`
		Put            *putInput `json:"Put"`
		Delete         *keyInput `json:"Delete"`
		Update         *keyInput `json:"Update"`
	} `json:"TransactItems"`
	ClientRequestToken     string `json:"ClientRequestToken"`
	ReturnConsumedCapacity string `json:"ReturnConsumedCapacity"`
}

func (db *DB) transactWrite(in transactWriteInput) (any, error) {
	if len(in.TransactItems) == 0 || len(in.TransactItems) > 100 {
		return nil, validation("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100, Member must have length greater than or equal to 1")
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	ws := make([]*preparedWrite, len(in.TransactItems))
	seen := map[string]bool{}
	for i, ti := range in.TransactItems {
		var w *preparedWrite
		var err error
		count := 0
		for _, x := range []bool{ti.ConditionCheck != nil, ti.Put != nil, ti.Delete != nil, ti.Update != nil} {
			if x {
				count++
			}
		}
		if count != 1 {
			return nil, validation("TransactItems can only contain one of Check, Put, Update or Delete")
		}
		switch {
		case ti.Put != nil:
			t, e := db.table(ti.Put.TableName)
			if e != nil {
				return nil, e
			}
			w, err = db.preparePut(t, *ti.Put)
		case ti.Update != nil:
			t, e := db.table(ti.Update.TableName)
			if e != nil {
				return nil, e
			}
			if ti.Update.UpdateExpression == "" {
				return nil, validation("1 validation error detected: Value null at 'transactItems." + fmt.Sprint(i+1) + ".member.update.updateExpression' failed to satisfy constraint: Member must not be null")
			}
			w, err = db.prepareKeyed(t, *ti.Update, "update")
		case ti.Delete != nil:
			t, e := db.table(ti.Delete.TableName)
			if e != nil {
				return nil, e
			}
			w, err = db.prepareKeyed(t, *ti.Delete, "delete")
		default:
			t, e := db.table(ti.ConditionCheck.TableName)
			if e != nil {
				return nil, e
			}
			w, err = db.prepareKeyed(t, *ti.ConditionCheck, "check")
		}
		if err != nil {
			return nil, err
		}
		id := w.t.meta.Name + "\x02" + w.t.tkey(w.key)
		if seen[id] {
			return nil, validation("Transaction request cannot include multiple operations on one item")
		}
		seen[id] = true
		ws[i] = w
	}
	// Each item in turn: its condition; then, if it holds, whether its
	// update is valid for the item it meets. A failed condition makes the
	// item a cancellation reason, while an invalid update refuses the
	// whole request; an update of a key or an item too large is the
	// item's reason (ValidationError), as DynamoDB Local answers.
	reasons := make([]CancellationReason, len(ws))
	failed := false
	var invalid error
	stopped := false
	var cs []change
	for i, w := range ws {
		old, n, _, err := w.evaluate()
		reasons[i] = CancellationReason{Code: "None"}
		var ae *APIError
		if err != nil && errors.As(err, &ae) && ae.Type == "ConditionalCheckFailedException" {
			failed = true
			reasons[i] = CancellationReason{Code: "ConditionalCheckFailed", Message: "The conditional request failed", Item: ae.Item}
			continue
		}
		if err != nil {
			switch {
			case ae != nil && ae.perItem:
				// DynamoDB Local stops at the first such item; the items
				// after it are not evaluated (their reason is None).
				failed = true
				reasons[i] = CancellationReason{Code: "ValidationError", Message: ae.Message}
				for j := i + 1; j < len(ws); j++ {
					reasons[j] = CancellationReason{Code: "None"}
				}
				stopped = true
			case ae != nil && ae.Type == "ValidationException":
				if invalid == nil {
					invalid = err
				}
			default:
				return nil, err
			}
			if stopped {
				break
			}
			continue
		}
		switch {
		case w.check:
		case w.del:
			if old != nil {
				cs = append(cs, change{t: w.t, old: old})
			}
		default:
			cs = append(cs, change{t: w.t, old: old, new: n})
		}
	}
	if invalid != nil {
		return nil, invalid
	}
	if failed {
		codes := make([]string, len(reasons))
		for i, r := range reasons {
			codes[i] = r.Code
		}
		return nil, &APIError{Type: "TransactionCanceledException", Message: "Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]", Status: 400, Reasons: reasons}
	}
	if err := db.commit(cs); err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

type transactGetInput struct {
	TransactItems []struct {
		Get *keyInput `json:"Get"`
	} `json:"TransactItems"`
}

func (db *DB) transactGet(in transactGetInput) (any, error) {
	if len(in.TransactItems) == 0 || len(in.TransactItems) > 100 {
		return nil, validation("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100, Member must have length greater than or equal to 1")
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	var resp []map[string]any
	seen := map[string]bool{}
	for _, ti := range in.TransactItems {
		g := ti.Get
		if g == nil {
			return nil, validation("TransactItems can only contain Get")
		}
		t, err := db.table(g.TableName)
		if err != nil {
			return nil, err
		}
		if err := g.check(); err != nil {
			return nil, err
		}
		u := newUsage()
		proj, err := projection(g.ProjectionExpression, nil, g.ExpressionAttributeNames, u)
		if err != nil {
			return nil, err
		}
		if err := u.check(g.ExpressionAttributeNames, g.ExpressionAttributeValues); err != nil {
			return nil, err
		}
		if err := t.checkKey(g.Key); err != nil {
			return nil, err
		}
		id := t.meta.Name + "\x02" + t.tkey(g.Key)
		if seen[id] {
			return nil, validation("Transaction request cannot include multiple operations on one item")
		}
		seen[id] = true
		r := map[string]any{}
		if it := t.get(g.Key); it != nil {
			r["Item"] = project(it, proj)
		}
		resp = append(resp, r)
	}
	return map[string]any{"Responses": resp}, nil
}
