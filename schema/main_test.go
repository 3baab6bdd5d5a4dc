package schema

import (
	"testing"

	"github.com/zpipe/zpipe/internal/cachetest"
)

func TestMain(m *testing.M) { cachetest.Main(m) }
