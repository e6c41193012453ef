package graph

import (
	"net/http"
	"testing"
	"time"
)

func BenchmarkBody(b *testing.B) {
	k, err := LookupKind("deviceConfigurations")
	if err != nil {
		b.Fatal(err)
	}
	a := Assignment{Target: Target{Type: TargetGroup, GroupID: validGUID, FilterID: validGUID, FilterType: FilterInclude}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Body(a, Beta); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClassify(b *testing.B) {
	now := time.Now()
	h429 := http.Header{}
	h429.Set("Retry-After", "2.128")
	h429.Set("request-id", "r")
	body429 := []byte(graphErrBody("TooManyRequests", "Too many requests"))
	h400 := http.Header{}
	body400 := []byte(graphErrBody(RouteErrorCode, "No OData route exists that match template"))
	b.Run("429", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if e := classifyResponse(OpCreate, true, 429, h429, body429, now); e.Class != ClassThrottled {
				b.Fatal(e)
			}
		}
	})
	b.Run("400", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if e := classifyResponse(OpCreate, true, 400, h400, body400, now); e.Class != ClassRouteNotSupported {
				b.Fatal(e)
			}
		}
	})
}
