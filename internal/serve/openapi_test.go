package serve

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPI_DescribesEveryRoute holds openapi.json and the routes to
// each other: every route is in the document with its method, every
// operation of the document is a route, and every path parameter the
// document names is one of the route's.
func TestOpenAPI_DescribesEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: version %q", doc.OpenAPI)
	}
	var routes []string
	for _, rt := range (&Server{}).apiTable() {
		path := strings.ReplaceAll(rt.pattern, "...}", "}")
		routes = append(routes, strings.ToLower(rt.method)+" "+path)
		op, ok := doc.Paths[path][strings.ToLower(rt.method)]
		if !ok {
			t.Errorf("route %s %s is not in openapi.json", rt.method, path)
			continue
		}
		var o struct {
			OperationID string `json:"operationId"`
			Parameters  []struct {
				Name, In string
			} `json:"parameters"`
			Responses map[string]json.RawMessage `json:"responses"`
		}
		if err := json.Unmarshal(op, &o); err != nil {
			t.Fatal(err)
		}
		if o.OperationID == "" || len(o.Responses) == 0 {
			t.Errorf("%s %s: no operationId or responses", rt.method, path)
		}
		for _, p := range o.Parameters {
			if p.In == "path" && !strings.Contains(path, "{"+p.Name+"}") {
				t.Errorf("%s %s: path parameter %s is not in the route", rt.method, path, p.Name)
			}
		}
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, "{") && !slices.ContainsFunc(o.Parameters, func(p struct{ Name, In string }) bool { return "{"+p.Name+"}" == seg }) {
				t.Errorf("%s %s: %s is not described", rt.method, path, seg)
			}
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !slices.Contains(routes, method+" "+path) {
				t.Errorf("openapi.json describes %s %s, which no route serves", strings.ToUpper(method), path)
			}
		}
	}
}

// TestOpenAPI_Served: GET /openapi.json is the document.
func TestOpenAPI_Served(t *testing.T) {
	ts := startTestServer(t)
	code, body, h := ts.do("GET", "/openapi.json", nil)
	if code != 200 || h.Get("Content-Type") != "application/json" || string(body) != string(openAPI) {
		t.Fatalf("GET /openapi.json: %d %s", code, h.Get("Content-Type"))
	}
}
