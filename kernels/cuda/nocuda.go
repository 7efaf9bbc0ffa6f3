//go:build !cuda

package cuda

import (
	"errors"

	"github.com/aha-inference/aha/kernels"
)

// ErrNotBuilt is New's error in a build without the cuda tag.
var ErrNotBuilt = errors.New("aha was built without CUDA (build with -tags cuda)")

// New reports that this build has no GPU backend.
func New() (kernels.Backend, error) { return nil, ErrNotBuilt }
