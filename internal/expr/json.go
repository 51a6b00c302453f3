package expr

import (
	"fmt"
	"math"
	"strconv"
)

// JSONText is a Graph JSON value (as encoding/json decodes it into any) as
// the expression language and Microsoft's scoping filters see it: booleans
// "True"/"False", whole numbers without a fraction or exponent, null "".
func JSONText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		// Beyond 1e15 a float64 no longer holds every integer and the
		// int64 conversion would overflow past 2^63: keep the float form.
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}
