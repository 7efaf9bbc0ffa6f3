package model

import (
	"fmt"

	"github.com/aha-inference/aha/kernels"
)

// architecture is what distinguishes one supported family from another.
// All three are llama-style decoders sharing one forward pass
// (transformer.go); each family's file registers what makes it different.
type architecture struct {
	name          string   // GGUF general.architecture and HF model_type
	hfClasses     []string // HF config.json "architectures" entries
	attentionBias bool     // q/k/v projections carry biases
	qkNorm        bool     // per-head RMSNorm on q and k before RoPE
	// ggufRope is how this family's GGUF files pair Q/K elements for RoPE.
	ggufRope kernels.RopeLayout
}

// architectures is filled by the init functions of llama.go, qwen2.go and
// qwen3.go.
var architectures []architecture

func register(a architecture) { architectures = append(architectures, a) }

func archByName(name string) (architecture, error) {
	for _, a := range architectures {
		if a.name == name {
			return a, nil
		}
	}
	return architecture{}, fmt.Errorf("unsupported architecture %q (supported: %s)", name, supported())
}

func archFromHF(modelType string, classes []string) (architecture, error) {
	for _, a := range architectures {
		if a.name == modelType {
			return a, nil
		}
		for _, c := range a.hfClasses {
			for _, have := range classes {
				if c == have {
					return a, nil
				}
			}
		}
	}
	name := modelType
	if name == "" && len(classes) > 0 {
		name = classes[0]
	}
	return architecture{}, fmt.Errorf("unsupported architecture %q (supported: %s)", name, supported())
}
