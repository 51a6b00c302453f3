package expr

import "testing"

func TestJSONText(t *testing.T) {
	for v, want := range map[any]string{
		"x": "x", true: "True", false: "False", nil: "",
		float64(42): "42", 3.5: "3.5", -1e14: "-100000000000000",
		1e20: "100000000000000000000", // past int64: not an overflowed int64
	} {
		if got := JSONText(v); got != want {
			t.Errorf("JSONText(%v) = %q, want %q", v, got, want)
		}
	}
}
