package dynamosrv

// ---- batches

type batchWriteInput struct {
	RequestItems map[string][]struct {
		PutRequest *struct {
			Item Item `json:"Item"`
		} `json:"PutRequest"`
		DeleteRequest *struct {
			Key Item `json:"Key"`
		} `json:"DeleteRequest"`
	} `json:"RequestItems"`
	ReturnConsumedCapacity string `json:"ReturnConsumedCapacity"`
}

func (db *DB) batchWrite(in batchWriteInput) (any, error) {
	n := 0
	for _, rs := range in.RequestItems {
		n += len(rs)
	}
	if n == 0 {
		return nil, validation("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if n > 25 {
		return nil, validation("1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]")
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	var cs []change
	seen := map[string]bool{}
	var caps []*consumed
	for _, name := range sortedKeys(in.RequestItems) {
		t, err := db.table(name)
		if err != nil {
			return nil, err
		}
		for _, r := range in.RequestItems[name] {
			var key Item
			switch {
			case r.PutRequest != nil && r.DeleteRequest == nil:
				if err := t.checkItem(r.PutRequest.Item); err != nil {
					return nil, err
				}
				key = t.keyOf(r.PutRequest.Item)
			case r.DeleteRequest != nil && r.PutRequest == nil:
				if err := t.checkKey(r.DeleteRequest.Key); err != nil {
					return nil, err
				}
				key = r.DeleteRequest.Key
			default:
				return nil, validation("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
			}
			id := name + "\x02" + t.tkey(key)
			if seen[id] {
				return nil, validation("Provided list of item keys contains duplicates")
			}
			seen[id] = true
			old := t.get(key)
			if r.PutRequest != nil {
				cs = append(cs, change{t: t, old: old, new: r.PutRequest.Item})
			} else if old != nil {
				cs = append(cs, change{t: t, old: old})
			}
		}
		if c := capacity(in.ReturnConsumedCapacity, name, float64(len(in.RequestItems[name]))); c != nil {
			caps = append(caps, c)
		}
	}
	if err := db.commit(cs); err != nil {
		return nil, err
	}
	out := map[string]any{"UnprocessedItems": map[string]any{}}
	if caps != nil {
		out["ConsumedCapacity"] = caps
	}
	return out, nil
}

type batchGetInput struct {
	RequestItems map[string]struct {
		exprParams
		Keys                 []Item   `json:"Keys"`
		ProjectionExpression string   `json:"ProjectionExpression"`
		ConsistentRead       bool     `json:"ConsistentRead"`
		AttributesToGet      []string `json:"AttributesToGet"`
	} `json:"RequestItems"`
	ReturnConsumedCapacity string `json:"ReturnConsumedCapacity"`
}

func (db *DB) batchGet(in batchGetInput) (any, error) {
	n := 0
	for _, r := range in.RequestItems {
		n += len(r.Keys)
	}
	if n == 0 {
		return nil, validation("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if n > 100 {
		return nil, validation("Too many items requested for the BatchGetItem call")
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	resp := map[string][]Item{}
	var caps []*consumed
	for _, name := range sortedKeys(in.RequestItems) {
		r := in.RequestItems[name]
		t, err := db.table(name)
		if err != nil {
			return nil, err
		}
		if err := r.check(); err != nil {
			return nil, err
		}
		u := newUsage()
		proj, err := projection(r.ProjectionExpression, r.AttributesToGet, r.ExpressionAttributeNames, u)
		if err != nil {
			return nil, err
		}
		if err := u.check(r.ExpressionAttributeNames, r.ExpressionAttributeValues); err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		items := []Item{}
		for _, k := range r.Keys {
			if err := t.checkKey(k); err != nil {
				return nil, err
			}
			tk := t.tkey(k)
			if seen[tk] {
				return nil, validation("Provided list of item keys contains duplicates")
			}
			seen[tk] = true
			if it := t.get(k); it != nil {
				items = append(items, project(it, proj))
			}
		}
		resp[name] = items
		if c := capacity(in.ReturnConsumedCapacity, name, float64(len(r.Keys))); c != nil {
			caps = append(caps, c)
		}
	}
	out := map[string]any{"Responses": resp, "UnprocessedKeys": map[string]any{}}
	if caps != nil {
		out["ConsumedCapacity"] = caps
	}
	return out, nil
}
