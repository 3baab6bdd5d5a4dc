package engine

// quickRecord is what decide needs of an item's latest journal record to
// find it up to date, read in place: building a million entries only to
// throw them away was a fifth of a no-op rerun.
type quickRecord struct {
	done                  bool
	hasFP, hasStat, timed bool
	base                  fingerprint
	stat                  fileStat
	timeNS                int64
	parts                 [4]partRef
	nparts                int
	records, ok, failed   int
	attempts              int
}

// quick reads the record at pos into q; false when it has more parts than
// q holds.
func (s *itemStore) quick(pos uint64, q *quickRecord) bool {
	var buf recordBuf
	r := s.reader(pos, &buf)
	r.skip() // key
	q.done = s.names[r.uvarint()] == "done"
	r.uvarint() // run
	r.skip()    // error
	if q.hasFP = r.uvarint() == 1; q.hasFP {
		r.skipSum() // input
		q.base = s.bases[r.uvarint()]
	}
	if q.hasStat = r.uvarint() == 1; q.hasStat {
		q.stat = fileStat{Size: r.varint(), Mtime: r.varint(), Ctime: r.varint(), Ino: r.uvarint(), Dev: r.uvarint()}
	}
	n := int(r.uvarint())
	if n >= len(q.parts) {
		return false
	}
	for k := range n {
		q.parts[k] = s.unpackPartLean(&r)
	}
	if r.uvarint() == 1 {
		q.parts[n] = s.unpackPartLean(&r)
		n++
	}
	q.nparts = n
	q.records, q.ok, q.failed, q.attempts = int(r.varint()), int(r.varint()), int(r.varint()), int(r.varint())
	r.varint() // duration
	// The zero time, written or not, is no time: the slow way decides.
	if t := r.time(); !t.IsZero() {
		q.timed, q.timeNS = true, t.UnixNano()
	}
	return true
}

// quickUpToDate tells whether item key of stage, whose file has stat and
// whose fingerprint now shares with the stage's items, is up to date as
// fingerprintOf and reason would find it, without building its entry. ok
// is false when it cannot tell so: the caller decides the slow way.
func (st *state) quickUpToDate(stage, key string, stat *fileStat, now *fingerprint) (res itemResult, ok bool) {
	var q quickRecord
	st.mu.RLock()
	items := st.items[stage]
	if items == nil {
		st.mu.RUnlock()
		return res, false
	}
	pos, found := items.find(key)
	read := found && items.quick(pos, &q)
	st.mu.RUnlock()
	// As fingerprintOf trusts an unchanged stat, and reason then finds
	// nothing changed.
	if !read || !q.done || !q.hasFP || !q.hasStat || !q.timed || q.stat != *stat || stat.Mtime >= q.timeNS-2e9 ||
		q.base.Schema != now.Schema || q.base.Transform != now.Transform || q.base.Settings != now.Settings || q.base.Version != now.Version {
		return res, false
	}
	for _, p := range q.parts[:q.nparts] {
		if !isPartName(p.File) {
			return res, false
		}
		size, err := st.partSize(p)
		switch {
		case err != nil,
			p.packed() && (p.Offset < 0 || p.Size < 0 || p.Offset > size-p.Size),
			!p.packed() && p.Size > 0 && size != p.Size:
			return res, false
		}
	}
	return itemResult{upToDate: true, records: q.records, ok: q.ok, failed: q.failed, attempts: q.attempts, journaled: true}, true
}

// quickProvenance gives what the run record says of item key of stage
// from its latest journal record, read in place: the sum of its input
// (when input), its time, and the sum of each part by output (-1 for its
// rejects), in the entry's order. It reports whether there was a record.
func (st *state) quickProvenance(stage, key string, input bool, p *ItemProvenance, part func(output int, sum string)) bool {
	st.mu.RLock()
	defer st.mu.RUnlock()
	items := st.items[stage]
	if items == nil {
		return false
	}
	pos, ok := items.find(key)
	if !ok {
		return false
	}
	var buf recordBuf
	r := items.reader(pos, &buf)
	r.skip()    // key
	r.uvarint() // status
	r.uvarint() // run
	r.skip()    // error
	if r.uvarint() == 1 {
		if input {
			p.InputSHA256 = r.sum()
		} else {
			r.skipSum()
		}
		r.uvarint() // base
	}
	if r.uvarint() == 1 {
		for range 5 {
			r.uvarint()
		}
	}
	for range int(r.uvarint()) {
		pr := items.readPart(&r, true)
		part(pr.Output, pr.SHA256)
	}
	if r.uvarint() == 1 {
		part(-1, items.readPart(&r, true).SHA256)
	}
	for range 5 { // records, ok, failed, attempts, duration
		r.uvarint()
	}
	p.Time = r.time()
	return true
}

// quickParts appends to dst the parts of item key of stage's latest
// journal record, read in place, in the order of the entry's allParts
// (its rejects part last), with their sums when sums. rejects says
// whether the last is the rejects part. ok is false when there is no
// record. Rewriting the outputs of a million up-to-date items read each
// one's parts twice, and building an entry for each read was a sixth of
// the run.
func (st *state) quickParts(stage, key string, sums bool, dst []partRef) (parts []partRef, rejects, ok bool) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	items := st.items[stage]
	if items == nil {
		return dst, false, false
	}
	pos, found := items.find(key)
	if !found {
		return dst, false, false
	}
	var buf recordBuf
	r := items.reader(pos, &buf)
	r.skip()    // key
	r.uvarint() // status
	r.skipToParts()
	for range int(r.uvarint()) {
		dst = append(dst, items.readPart(&r, sums))
	}
	if rejects = r.uvarint() == 1; rejects {
		dst = append(dst, items.readPart(&r, sums))
	}
	return dst, rejects, true
}
