package exit

import (
	"errors"
	"fmt"
	"testing"
)

func TestCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, OK},
		{"plain", errors.New("boom"), Failure},
		{"usage", UsageError(errors.New("bad flag")), Usage},
		{"wrapped usage", fmt.Errorf("up: %w", UsageError(errors.New("bad"))), Usage},
		{"unreachable", WithCode(Unreachable, errors.New("no cluster")), Unreachable},
		{"cobra unknown command", errors.New(`unknown command "x" for "dynamoctl"`), Usage},
		{"cobra unknown flag", errors.New("unknown flag: --nope"), Usage},
		{"cobra args", errors.New(`accepts 0 arg(s), received 1`), Usage},
		{"nil stays nil", WithCode(Usage, nil), OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Code(tt.err); got != tt.want {
				t.Errorf("Code(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}
