package entra

import (
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// fractionalRetryAfter lets azcore's retry policy honour a fractional
// Retry-After. Graph sends values like "2.128" (Microsoft's throttling
// sample); azcore reads whole seconds or an HTTP date only, so it would
// ignore the header, retry after its own ~1 s back-off and be throttled
// again. The policy sits under the retry policy and adds the value in
// milliseconds as retry-after-ms, the header azcore reads first.
type fractionalRetryAfter struct{}

func (fractionalRetryAfter) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	if err != nil || resp == nil {
		return resp, err
	}
	ra := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if ra == "" || !strings.Contains(ra, ".") || resp.Header.Get("retry-after-ms") != "" {
		return resp, err
	}
	if secs, perr := strconv.ParseFloat(ra, 64); perr == nil && secs > 0 && !math.IsInf(secs, 0) {
		resp.Header.Set("retry-after-ms", strconv.FormatInt(int64(math.Ceil(secs*1000)), 10))
	}
	return resp, err
}
