package pipeline

import "github.com/zpipe/zpipe/schema"

// LoadSchema compiles a schema of the manifest, with a transform when one
// is given, as every command loads it: isolated, so that CUE runs in
// processes a timeout or a stop can kill and a schema that crashes CUE is
// an error; with the manifest's refs; its files shown relative to the
// manifest. More options, such as schema.WithContext, come after those,
// and before the transform's.
func (m *Manifest) LoadSchema(spec schema.Spec, transform *schema.Spec, more ...schema.Option) (*schema.Schema, error) {
	opts := append([]schema.Option{schema.WithDisplayPath(m.Rel), schema.WithRefs(m.SchemaRefs), schema.Isolated()}, more...)
	if transform != nil {
		opts = append(opts, schema.WithTransform(*transform))
	}
	return schema.Load(spec, opts...)
}
