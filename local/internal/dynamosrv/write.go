package dynamosrv

// ---- item writes

type putInput struct {
	exprParams
	TableName                           string `json:"TableName"`
	Item                                Item   `json:"Item"`
	ConditionExpression                 string `json:"ConditionExpression"`
	ReturnValues                        string `json:"ReturnValues"`
	ReturnValuesOnConditionCheckFailure string `json:"ReturnValuesOnConditionCheckFailure"`
	ReturnConsumedCapacity              string `json:"ReturnConsumedCapacity"`
	Expected                            any    `json:"Expected"`
}

// preparedWrite is a validated write, ready to be checked and applied
// under the lock.
type preparedWrite struct {
	t        *table
	key      Item
	cond     cond
	put      Item           // Put
	update   []updateAction // Update (nil actions: just ensure the item)
	isUpdate bool
	del      bool
	check    bool   // ConditionCheck
	failMode string // ReturnValuesOnConditionCheckFailure
}

func legacy(name string, v any) error {
	if v != nil {
		return validation("The legacy parameter " + name + " is not supported by the nanopipe local environment; use expression parameters")
	}
	return nil
}

func (db *DB) preparePut(t *table, in putInput) (*preparedWrite, error) {
	if err := legacy("Expected", in.Expected); err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	if in.Item == nil {
		return nil, validation("1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null")
	}
	if err := t.checkItem(in.Item); err != nil {
		return nil, err
	}
	w := &preparedWrite{t: t, put: in.Item, key: t.keyOf(in.Item), failMode: in.ReturnValuesOnConditionCheckFailure}
	u := newUsage()
	if in.ConditionExpression != "" {
		c, err := parseCondition("ConditionExpression", in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues, u)
		if err != nil {
			return nil, err
		}
		w.cond = c
	}
	return w, u.check(in.ExpressionAttributeNames, in.ExpressionAttributeValues)
}

// evaluate checks the write's condition against the current item and
// computes the new one. It returns the old item and the new (nil for a
// delete or a check).
func (w *preparedWrite) evaluate() (old, new Item, touched []docPath, err error) {
	old = w.t.get(w.key)
	if w.cond != nil {
		probe := old
		if probe == nil {
			probe = Item{}
		}
		ok, err := evalCond(probe, w.cond)
		if err != nil {
			return old, nil, nil, err
		}
		if !ok {
			var item Item
			if w.failMode == "ALL_OLD" {
				item = old
			}
			return old, nil, nil, conditionFailed(item)
		}
	}
	switch {
	case w.put != nil:
		return old, w.put, nil, nil
	case w.isUpdate:
		base := old
		if base == nil {
			base = w.key.clone()
		}
		n, touched, err := applyUpdate(base, w.update, w.t.keyNames())
		if err != nil {
			return old, nil, nil, err
		}
		if err := w.t.checkItem(n); err != nil {
			return old, nil, nil, err
		}
		return old, n, touched, nil
	}
	return old, nil, nil, nil
}

func (db *DB) putItem(in putInput) (any, error) {
	switch in.ReturnValues {
	case "", "NONE", "ALL_OLD":
	default:
		return nil, validation("Return values set to invalid value")
	}
	t, old, n, _, err := db.writeOne(in.TableName, func(t *table) (*preparedWrite, error) { return db.preparePut(t, in) })
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if in.ReturnValues == "ALL_OLD" && old != nil {
		out["Attributes"] = old
	}
	if c := capacity(in.ReturnConsumedCapacity, t.meta.Name, writeUnits(n, old)); c != nil {
		out["ConsumedCapacity"] = c
	}
	return out, nil
}

// writeOne applies a single-item write under the lock: it finds the
// table, prepares the write, evaluates its condition and expressions and
// commits the change (a delete of a missing item commits nothing).
func (db *DB) writeOne(name string, prepare func(*table) (*preparedWrite, error)) (t *table, old, n Item, touched []docPath, err error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if t, err = db.table(name); err != nil {
		return nil, nil, nil, nil, err
	}
	w, err := prepare(t)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if old, n, touched, err = w.evaluate(); err != nil {
		return nil, nil, nil, nil, err
	}
	if old != nil || n != nil {
		if err := db.commit([]change{{t: t, old: old, new: n}}); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	return t, old, n, touched, nil
}

func writeUnits(items ...Item) float64 {
	n := 1
	for _, it := range items {
		if it != nil {
			n = max(n, (it.size()+1023)/1024)
		}
	}
	return float64(n)
}

type keyInput struct {
	exprParams
	TableName                           string   `json:"TableName"`
	Key                                 Item     `json:"Key"`
	ConditionExpression                 string   `json:"ConditionExpression"`
	UpdateExpression                    string   `json:"UpdateExpression"`
	ProjectionExpression                string   `json:"ProjectionExpression"`
	ConsistentRead                      bool     `json:"ConsistentRead"`
	ReturnValues                        string   `json:"ReturnValues"`
	ReturnValuesOnConditionCheckFailure string   `json:"ReturnValuesOnConditionCheckFailure"`
	ReturnConsumedCapacity              string   `json:"ReturnConsumedCapacity"`
	Expected                            any      `json:"Expected"`
	AttributeUpdates                    any      `json:"AttributeUpdates"`
	AttributesToGet                     []string `json:"AttributesToGet"`
}

func (db *DB) prepareKeyed(t *table, in keyInput, kind string) (*preparedWrite, error) {
	if err := legacy("Expected", in.Expected); err != nil {
		return nil, err
	}
	if err := legacy("AttributeUpdates", in.AttributeUpdates); err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	if in.Key == nil {
		return nil, validation("1 validation error detected: Value null at 'key' failed to satisfy constraint: Member must not be null")
	}
	if err := t.checkKey(in.Key); err != nil {
		return nil, err
	}
	w := &preparedWrite{t: t, key: in.Key, failMode: in.ReturnValuesOnConditionCheckFailure}
	u := newUsage()
	if in.ConditionExpression != "" {
		c, err := parseCondition("ConditionExpression", in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues, u)
		if err != nil {
			return nil, err
		}
		w.cond = c
	}
	switch kind {
	case "update":
		w.isUpdate = true
		if in.UpdateExpression != "" {
			acts, err := parseUpdate(in.UpdateExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues, u)
			if err != nil {
				return nil, err
			}
			w.update = acts
		}
	case "delete":
		w.del = true
	case "check":
		w.check = true
		if w.cond == nil {
			return nil, validation("1 validation error detected: Value null at 'conditionExpression' failed to satisfy constraint: Member must not be null")
		}
	}
	return w, u.check(in.ExpressionAttributeNames, in.ExpressionAttributeValues)
}

func (db *DB) updateItem(in keyInput) (any, error) {
	switch in.ReturnValues {
	case "", "NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW":
	default:
		return nil, validation("1 validation error detected: Value '" + in.ReturnValues + "' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]")
	}
	t, old, n, touched, err := db.writeOne(in.TableName, func(t *table) (*preparedWrite, error) { return db.prepareKeyed(t, in, "update") })
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	// UPDATED_OLD and UPDATED_NEW return, as DynamoDB Local does, the
	// whole top-level attribute of each action whose document path exists
	// in the item before (or after) the update.
	pick := func(src Item) Item {
		r := Item{}
		for _, p := range touched {
			if resolve(src, p) != nil {
				r[p[0].name] = src[p[0].name]
			}
		}
		return r
	}
	switch in.ReturnValues {
	case "ALL_OLD":
		if old != nil {
			out["Attributes"] = old
		}
	case "ALL_NEW":
		out["Attributes"] = n
	case "UPDATED_OLD":
		if old != nil {
			if r := pick(old); len(r) > 0 {
				out["Attributes"] = r
			}
		}
	case "UPDATED_NEW":
		if r := pick(n); len(r) > 0 {
			out["Attributes"] = r
		}
	}
	if c := capacity(in.ReturnConsumedCapacity, t.meta.Name, writeUnits(n, old)); c != nil {
		out["ConsumedCapacity"] = c
	}
	return out, nil
}

func (db *DB) deleteItem(in keyInput) (any, error) {
	switch in.ReturnValues {
	case "", "NONE", "ALL_OLD":
	default:
		return nil, validation("Return values set to invalid value")
	}
	t, old, _, _, err := db.writeOne(in.TableName, func(t *table) (*preparedWrite, error) { return db.prepareKeyed(t, in, "delete") })
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if in.ReturnValues == "ALL_OLD" && old != nil {
		out["Attributes"] = old
	}
	if c := capacity(in.ReturnConsumedCapacity, t.meta.Name, writeUnits(old)); c != nil {
		out["ConsumedCapacity"] = c
	}
	return out, nil
}
