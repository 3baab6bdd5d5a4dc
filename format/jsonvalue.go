package format

// ParseJSON reads one JSON value in the record model: objects keep their
// key order and numbers their literal text. It is for values that zpipe
// wrote itself, such as records passed between processes.
func ParseJSON(data []byte) (any, error) {
	p := jsonParser{data: data, lim: DefaultLimits}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(data) {
		return nil, p.fail(p.pos, "unexpected data after the value")
	}
	return v, nil
}
